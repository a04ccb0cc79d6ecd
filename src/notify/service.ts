import { and, asc, desc, eq, inArray, isNotNull, lte, ne, notInArray, sql } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import type { NotifyEndpoint } from "../config/index.ts";
import { recordEvent } from "../audit/service.ts";
import { describeUrl } from "../lib/webhooks.ts";
import { webhookDeliveries, webhookEndpoints } from "./schema.ts";

export type Delivery = typeof webhookDeliveries.$inferSelect;
export type DeliveryStatus = "pending" | "delivered" | "failed";

/** Longest wait between two attempts, however many there were. */
export const MAX_RETRY_DELAY = 6 * 3_600_000;

/**
 * When the next attempt is due after `attempts` failed ones: retry_delay doubled per attempt, capped at 6 hours, with
 * "equal jitter" (a random half of the delay) so endpoints that failed together do not all come back at once.
 */
export function nextAttemptAt(endpoint: Pick<NotifyEndpoint, "retryDelay">, attempts: number, now: number, random = Math.random): number {
  const base = Math.min(MAX_RETRY_DELAY, endpoint.retryDelay * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  return now + Math.round(base / 2 + (random() * base) / 2);
}

/** Pending rows that are due, oldest schedule first. */
export function dueDeliveries(ctx: AppContext, now: number, limit: number): Delivery[] {
  return ctx.db.orm
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.status, "pending"), lte(webhookDeliveries.nextAttemptAt, now)))
    .orderBy(asc(webhookDeliveries.nextAttemptAt), asc(webhookDeliveries.id))
    .limit(limit)
    .all();
}

/** When the earliest pending row other than `exclude` (rows being sent) is due (null: none pending). */
export function nextDueAt(ctx: AppContext, exclude: number[] = []): number | null {
  const pending = eq(webhookDeliveries.status, "pending");
  const row = ctx.db.orm
    .select({ at: webhookDeliveries.nextAttemptAt })
    .from(webhookDeliveries)
    .where(exclude.length ? and(pending, notInArray(webhookDeliveries.id, exclude)) : pending)
    .orderBy(asc(webhookDeliveries.nextAttemptAt))
    .limit(1)
    .get();
  return row?.at ?? null;
}

export function disabledEndpoints(ctx: AppContext): Map<string, { disabledAt: number; reason: string | null }> {
  const rows = ctx.db.orm.select().from(webhookEndpoints).where(isNotNull(webhookEndpoints.disabledAt)).all();
  return new Map(rows.map((r) => [r.url, { disabledAt: r.disabledAt!, reason: r.disabledReason }]));
}

/**
 * Records one attempt's outcome inside a write job. The row was read before the request was sent; if it changed
 * meanwhile (`webhooks retry` reset it), a failure is not recorded over the reset, and null is returned. A success
 * still marks a pending row delivered: the receiver has it.
 */
export function recordAttemptTx(
  ctx: AppContext,
  delivery: Delivery,
  endpoint: NotifyEndpoint,
  outcome: { ok: true; status: number } | { ok: false; status: number | null; error: string; final?: boolean },
  now: number,
): DeliveryStatus | null {
  const attempts = delivery.attempts + 1;
  const stillPending = and(eq(webhookDeliveries.id, delivery.id), eq(webhookDeliveries.status, "pending"));
  if (outcome.ok) {
    const r = ctx.db.orm
      .update(webhookDeliveries)
      .set({ status: "delivered", attempts: sql`${webhookDeliveries.attempts} + 1`, lastAttemptAt: now, lastStatus: outcome.status, lastError: null, deliveredAt: now })
      .where(stillPending)
      .returning({ id: webhookDeliveries.id })
      .all();
    return r.length > 0 ? "delivered" : null;
  }
  const giveUp = outcome.final || attempts >= endpoint.maxAttempts;
  const r = ctx.db.orm
    .update(webhookDeliveries)
    .set({
      status: giveUp ? "failed" : "pending",
      attempts,
      lastAttemptAt: now,
      lastStatus: outcome.status,
      lastError: outcome.error,
      nextAttemptAt: giveUp ? now : nextAttemptAt(endpoint, attempts, now),
    })
    .where(and(stillPending, eq(webhookDeliveries.attempts, delivery.attempts), eq(webhookDeliveries.nextAttemptAt, delivery.nextAttemptAt)))
    .returning({ id: webhookDeliveries.id })
    .all();
  if (r.length === 0) return null;
  return giveUp ? "failed" : "pending";
}

/** Marks a row failed without sending it (its endpoint is disabled or no longer configured). Not an attempt. */
export function failWithoutAttemptTx(ctx: AppContext, delivery: Delivery, error: string): void {
  ctx.db.orm.update(webhookDeliveries).set({ status: "failed", lastError: error }).where(eq(webhookDeliveries.id, delivery.id)).run();
}

/** An endpoint answered 410 Gone: it stays disabled (across restarts) until an admin retries its deliveries. */
export function disableEndpointTx(ctx: AppContext, url: string, reason: string, now: number): void {
  ctx.db.orm
    .insert(webhookEndpoints)
    .values({ url, disabledAt: now, disabledReason: reason })
    .onConflictDoUpdate({ target: webhookEndpoints.url, set: { disabledAt: now, disabledReason: reason } })
    .run();
  // Everything else queued for it fails now too, so `webhooks list` shows it and `retry` can bring it back.
  ctx.db.orm
    .update(webhookDeliveries)
    .set({ status: "failed", lastError: "endpoint_disabled" })
    .where(and(eq(webhookDeliveries.endpointUrl, url), eq(webhookDeliveries.status, "pending")))
    .run();
}

/** Deletes delivered rows after 7 days and failed ones after 30: the outbox is not an archive (the audit log is). */
export function pruneDeliveriesTx(ctx: AppContext, now: number): number {
  const run = (sqlText: string, before: number) => ctx.db.sqlite.query(sqlText).run(before).changes;
  return (
    run("DELETE FROM webhook_deliveries WHERE status = 'delivered' AND delivered_at <= ?1", now - 7 * 86_400_000) +
    run("DELETE FROM webhook_deliveries WHERE status = 'failed' AND created_at <= ?1", now - 30 * 86_400_000)
  );
}

export interface EndpointSummary {
  url: string;
  configured: boolean;
  disabledAt: number | null;
  disabledReason: string | null;
  pending: number;
  failed: number;
}

/** Every configured endpoint, plus any endpoint that still has rows or state, with its counts. */
export function endpointSummaries(ctx: AppContext): EndpointSummary[] {
  const counts = ctx.db.orm
    .select({ url: webhookDeliveries.endpointUrl, status: webhookDeliveries.status, n: sql<number>`count(*)` })
    .from(webhookDeliveries)
    .where(ne(webhookDeliveries.status, "delivered"))
    .groupBy(webhookDeliveries.endpointUrl, webhookDeliveries.status)
    .all();
  const disabled = disabledEndpoints(ctx);
  const urls = [...new Set([...ctx.config.notify.map((e) => e.url), ...counts.map((c) => c.url), ...disabled.keys()])];
  return urls.map((url) => ({
    url,
    configured: ctx.config.notify.some((e) => e.url === url),
    disabledAt: disabled.get(url)?.disabledAt ?? null,
    disabledReason: disabled.get(url)?.reason ?? null,
    pending: counts.find((c) => c.url === url && c.status === "pending")?.n ?? 0,
    failed: counts.find((c) => c.url === url && c.status === "failed")?.n ?? 0,
  }));
}

export const LIST_LIMIT = 1000;

/** Pending and failed deliveries (all of them with `all`), newest first, at most LIST_LIMIT. */
export function listDeliveries(ctx: AppContext, opts: { all?: boolean; limit?: number } = {}): Delivery[] {
  const q = ctx.db.orm.select().from(webhookDeliveries);
  return (opts.all ? q : q.where(ne(webhookDeliveries.status, "delivered")))
    .orderBy(desc(webhookDeliveries.id))
    .limit(opts.limit ?? LIST_LIMIT)
    .all();
}

export class DeliveryError extends Error {}

/**
 * Requeues deliveries for an immediate new series of attempts: one by id, or every failed one. Their endpoints are
 * enabled again (retrying is how an admin says "the receiver is back"). Returns how many rows were requeued.
 */
export async function retryDeliveries(ctx: AppContext, origin: Origin, which: { id: number } | { all: true }): Promise<number> {
  return ctx.db.write(() => {
    const now = Date.now();
    let rows: Delivery[];
    if ("id" in which) {
      const row = ctx.db.orm.select().from(webhookDeliveries).where(eq(webhookDeliveries.id, which.id)).get();
      if (!row) throw new DeliveryError("delivery not found");
      if (row.status === "delivered") throw new DeliveryError(`delivery ${row.id} was already delivered`);
      rows = [row];
    } else {
      rows = ctx.db.orm.select().from(webhookDeliveries).where(eq(webhookDeliveries.status, "failed")).all();
    }
    if (rows.length === 0) return 0;
    const ids = rows.map((r) => r.id);
    for (let i = 0; i < ids.length; i += 500) {
      ctx.db.orm
        .update(webhookDeliveries)
        .set({ status: "pending", attempts: 0, nextAttemptAt: now })
        .where(inArray(webhookDeliveries.id, ids.slice(i, i + 500)))
        .run();
    }
    const urls = [...new Set(rows.map((r) => r.endpointUrl))];
    const enabled = ctx.db.orm.delete(webhookEndpoints).where(inArray(webhookEndpoints.url, urls)).returning({ url: webhookEndpoints.url }).all();
    recordEvent(
      ctx,
      origin,
      {
        type: "webhook.retried",
        details: { deliveries: rows.length, ...("id" in which ? { delivery_id: which.id } : {}), endpoints_enabled: enabled.map((e) => describeUrl(e.url)) },
      },
      now,
    );
    return rows.length;
  });
}
