import type { AppContext } from "../context.ts";
import { SYSTEM_ORIGIN } from "../context.ts";
import type { NotifyEndpoint } from "../config/index.ts";
import { recordEvent } from "../audit/service.ts";
import { describeUrl, signedHeaders } from "../lib/webhooks.ts";
import { metrics } from "../metrics/index.ts";
import { onOutboxWrite } from "./outbox.ts";
import {
  disableEndpointTx,
  disabledEndpoints,
  dueDeliveries,
  failWithoutAttemptTx,
  nextDueAt,
  pruneDeliveriesTx,
  recordAttemptTx,
  type Delivery,
} from "./service.ts";

/** How often the worker looks for work it was not told about (rows requeued by the CLI, retries coming due). */
const POLL_MS = 1000;
const MAX_IN_FLIGHT = 8;
const PRUNE_EVERY_MS = 3_600_000;

export interface DeliveryWorker {
  /** Stops picking rows, aborts sends in flight (their rows stay pending, untouched) and waits for them. */
  stop(): Promise<void>;
}

/**
 * Sends the outbox. Rows live in the database, so nothing is lost across a restart: whatever was pending is sent by
 * the next server. Delivery is at least once (a crash after the receiver answered but before the row was updated
 * sends it again); receivers de-duplicate on webhook-id.
 */
export function startDeliveryWorker(ctx: AppContext): DeliveryWorker {
  const endpoints = new Map(ctx.config.notify.map((e) => [e.url, e]));
  const inFlight = new Map<number, Promise<void>>();
  const stopping = new AbortController();
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lastPrune = 0;
  let failing = false; // a storage problem is logged once per streak, not every poll

  const schedule = (ms: number) => {
    if (stopping.signal.aborted) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(tick, Math.max(0, ms));
  };

  function tick(): void {
    timer = null;
    if (stopping.signal.aborted) return;
    const now = Date.now();
    try {
      if (now - lastPrune > PRUNE_EVERY_MS) {
        lastPrune = now;
        ctx.db.write(() => pruneDeliveriesTx(ctx, now)).catch((e) => ctx.log.warn(`webhook outbox prune failed: ${(e as Error).message}`));
      }
      const free = MAX_IN_FLIGHT - inFlight.size;
      if (free > 0) {
        const disabled = disabledEndpoints(ctx);
        for (const row of dueDeliveries(ctx, now, free + inFlight.size)) {
          if (inFlight.has(row.id) || inFlight.size >= MAX_IN_FLIGHT) continue;
          const done = deliver(row, disabled.has(row.endpointUrl)).finally(() => {
            inFlight.delete(row.id);
            schedule(0);
          });
          inFlight.set(row.id, done);
        }
      }
      const due = inFlight.size >= MAX_IN_FLIGHT ? null : nextDueAt(ctx, [...inFlight.keys()]);
      failing = false;
      schedule(due === null ? POLL_MS : Math.min(POLL_MS, due - Date.now()));
    } catch (e) {
      if (!failing) ctx.log.warn(`webhook delivery worker: ${(e as Error).message}`);
      failing = true;
      schedule(POLL_MS);
    }
  }

  async function deliver(row: Delivery, endpointDisabled: boolean): Promise<void> {
    const endpoint = endpoints.get(row.endpointUrl) ?? null;
    if (!endpoint || endpointDisabled) {
      await write(() => failWithoutAttemptTx(ctx, row, endpoint ? "endpoint_disabled" : "endpoint_not_configured"));
      return;
    }
    const outcome = await send(endpoint, row);
    if (outcome === "stopped") return; // shutdown: not an attempt, the next server sends it
    const now = Date.now();
    await write(() => {
      if (outcome.ok) return recordAttemptTx(ctx, row, endpoint, outcome, now);
      if (outcome.status === 410) {
        // A `webhooks retry` made meanwhile re-enabled the endpoint on purpose: it wins over this answer too.
        if (recordAttemptTx(ctx, row, endpoint, { ...outcome, final: true }, now) === null) return null;
        disableEndpointTx(ctx, endpoint.url, "410 Gone", now);
        recordEvent(ctx, SYSTEM_ORIGIN, { type: "webhook.disabled", details: { endpoint: describeUrl(endpoint.url), reason: "gone", delivery_id: row.id } }, now);
        return "failed";
      }
      const status = recordAttemptTx(ctx, row, endpoint, outcome, now);
      if (status === "failed") {
        recordEvent(
          ctx,
          SYSTEM_ORIGIN,
          { type: "webhook.failed", details: { endpoint: describeUrl(endpoint.url), delivery_id: row.id, event: row.eventType, attempts: row.attempts + 1, reason: outcome.error } },
          now,
        );
      }
      return status;
    }).then((status) => {
      if (status) metrics.webhookAttempts.inc({ result: !outcome.ok && outcome.status === 410 ? "gone" : status === "pending" ? "retry" : status });
      if (status === "failed") ctx.log.warn(`webhook ${row.eventType} (delivery ${row.id}) to ${describeUrl(endpoint.url)} failed for good: ${outcome.ok ? "" : outcome.error}`);
    });
  }

  async function send(endpoint: NotifyEndpoint, row: Delivery): Promise<{ ok: true; status: number } | { ok: false; status: number | null; error: string } | "stopped"> {
    const headers = signedHeaders(endpoint.secrets, row.messageId, row.payload);
    try {
      const res = await fetch(endpoint.url, {
        method: "POST",
        headers,
        body: row.payload,
        redirect: "manual",
        signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(endpoint.timeout)]),
      });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
      return { ok: false, status: res.status, error: res.status === 410 ? "gone" : `http_${res.status}` };
    } catch (e) {
      if (stopping.signal.aborted) return "stopped";
      const name = (e as Error)?.name;
      return { ok: false, status: null, error: name === "TimeoutError" || name === "AbortError" ? "timeout" : "network_error" };
    }
  }

  /** A write after the database closed (shutdown) is dropped: the row stays pending for the next start. */
  function write<T>(fn: () => T): Promise<T | undefined> {
    return ctx.db.write(fn).catch((e) => {
      if (!stopping.signal.aborted) ctx.log.warn(`webhook outbox update failed: ${(e as Error).message}`);
      return undefined;
    });
  }

  // Without endpoints there is nothing to send: no polling at all. (Rows queued for an endpoint that was removed
  // from the config wait, untouched, until it comes back or they are pruned.)
  if (endpoints.size > 0) {
    onOutboxWrite(() => schedule(0));
    schedule(0);
  }

  return {
    async stop() {
      stopping.abort();
      onOutboxWrite(null);
      if (timer) clearTimeout(timer);
      await Promise.allSettled([...inFlight.values()]);
    },
  };
}
