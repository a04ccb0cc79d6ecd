import type { AppContext } from "../context.ts";
import { pruneEvents, type PruneResult } from "./service.ts";

/** The first prune runs this long after start-up, so start-up itself (and the first requests) are not slowed. */
export const FIRST_PRUNE_DELAY_MS = 1000;
/** How often the server checks whether `max_rows` was overshot since the last prune. */
const QUOTA_CHECK_MS = 60_000;
/** setInterval/setTimeout cannot wait longer than this (a larger value fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Expired events and the quota, as configured: what the server does daily and `invited audit prune` on demand. */
export function pruneConfigured(ctx: AppContext, opts: { host?: string | null; signal?: AbortSignal } = {}): Promise<PruneResult> {
  const cfg = ctx.config.audit;
  return pruneEvents(ctx, { host: opts.host, olderThan: Date.now() - cfg.expiresAfter, maxRows: cfg.maxRows, signal: opts.signal });
}

export interface Retention {
  /** Stops the timers and waits for a prune in progress to finish its current batch. */
  stop(): Promise<void>;
}

/**
 * Runs the audit retention while the server serves: once shortly after start, then every `prune_interval` (1 day by
 * default). With `max_rows` set it also checks every minute how many events were written since the last prune (from
 * the AUTOINCREMENT id, so the CLI's writes count too) and prunes early once that passes 1% of the quota, so a flood
 * of events cannot outgrow the quota by more than that for long.
 */
export function startRetention(ctx: AppContext): Retention {
  const cfg = ctx.config.audit;
  const controller = new AbortController();
  let running: Promise<void> | null = null;
  let lastMaxId: number | null = null;
  const maxId = () => (ctx.db.sqlite.query("SELECT max(id) AS id FROM audit_events").get() as { id: number | null }).id ?? 0;

  const run = () => {
    if (running || controller.signal.aborted) return;
    running = (async () => {
      try {
        const r = await pruneConfigured(ctx, { signal: controller.signal });
        if (r.expired + r.overQuota > 0) {
          ctx.log.info(`audit: pruned ${r.expired} expired and ${r.overQuota} over-quota events in ${Math.round(r.ms)} ms (${r.batches} batches)`);
        }
        if (!controller.signal.aborted) lastMaxId = maxId();
      } catch (e) {
        if (!controller.signal.aborted) ctx.log.error(`audit: prune failed: ${(e as Error)?.message ?? String(e)}`);
      } finally {
        running = null;
      }
    })();
  };

  const first = setTimeout(run, FIRST_PRUNE_DELAY_MS);
  const intervals = [setInterval(run, Math.min(cfg.pruneInterval, MAX_TIMER_MS))];
  if (cfg.maxRows !== null) {
    const slack = Math.max(100, Math.ceil(cfg.maxRows / 100));
    const check = () => {
      if (running || lastMaxId === null) return;
      try {
        if (maxId() - lastMaxId >= slack) run();
      } catch {} // the next regular prune reports storage trouble
    };
    intervals.push(setInterval(check, Math.min(QUOTA_CHECK_MS, cfg.pruneInterval)));
  }
  first.unref();
  for (const t of intervals) t.unref();

  return {
    async stop() {
      clearTimeout(first);
      for (const t of intervals) clearInterval(t);
      controller.abort();
      await running;
    },
  };
}
