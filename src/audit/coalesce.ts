import type { AppContext, Origin } from "../context.ts";
import { recordEvent, type AuditInput } from "./service.ts";

interface Pending {
  origin: Origin;
  event: AuditInput;
  repeats: number;
  windowEnds: number;
}

/**
 * Audit rows for events an unauthenticated client can cause at will (refused registrations, refused keys). One row
 * each would let a flood cost a write per request and push real events out of `max_rows`. So the first event per
 * group (the caller's key: reason, client network, ...) is written at once, and repeats within the window are
 * counted and written as one more event with `repeats: N` when the window closes (or when the server stops).
 * Memory is bounded: past 10,000 open groups, all are written out and forgotten.
 */
export class CoalescedEvents {
  private readonly pending = new Map<string, Pending>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private warnedAt = -Infinity;

  constructor(
    private readonly ctx: AppContext,
    private readonly windowMs: number,
  ) {}

  /** Records `event` under `group`; resolves once a row written for it (if any) has committed. */
  record(group: string, origin: Origin, event: AuditInput, now = Date.now()): Promise<void> {
    const seen = this.pending.get(group);
    if (seen && now < seen.windowEnds) {
      seen.repeats++;
      return Promise.resolve();
    }
    if (seen) void this.write(seen);
    this.pending.set(group, { origin, event, repeats: 0, windowEnds: now + this.windowMs });
    if (this.pending.size > 10_000) void this.flush();
    this.timer ??= setInterval(() => this.sweep(), Math.min(5000, this.windowMs));
    this.timer.unref?.();
    return this.writeEvent(origin, event, 0);
  }

  /** Writes the repeat counts of windows that have closed. */
  sweep(now = Date.now()): void {
    for (const [group, p] of this.pending) {
      if (now >= p.windowEnds) {
        this.pending.delete(group);
        void this.write(p);
      }
    }
    if (this.pending.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Writes every pending repeat count now (server shutdown). */
  flush(): Promise<unknown> {
    const all = [...this.pending.values()];
    this.pending.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return Promise.all(all.map((p) => this.write(p)));
  }

  private write(p: Pending): Promise<void> {
    return p.repeats > 0 ? this.writeEvent(p.origin, p.event, p.repeats) : Promise.resolve();
  }

  private writeEvent(origin: Origin, event: AuditInput, repeats: number): Promise<void> {
    const e = repeats > 0 ? { ...event, details: { ...event.details, repeats } } : event;
    return this.ctx.db.write(() => recordEvent(this.ctx, origin, e)).catch((err) => {
      // A full or read-only disk under a flood would otherwise log a line per group: one a minute is enough.
      const now = Date.now();
      if (now - this.warnedAt < 60_000) return;
      this.warnedAt = now;
      this.ctx.log.warn(`could not record ${event.type}: ${(err as Error).message}`);
    });
  }
}
