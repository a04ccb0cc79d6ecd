import type { AppContext, Origin } from "../context.ts";
import { recordEvent } from "../audit/service.ts";
import { onePer } from "../lib/memo.ts";
import type { KeyCheck } from "./service.ts";

type Failure = Extract<KeyCheck, { ok: false }>;

interface Pending {
  origin: Origin;
  failure: Failure;
  repeats: number;
  windowEnds: number;
}

/**
 * Audit rows for refused keys. A client hammering bad keys would otherwise cost one database write per 403 and
 * flood the audit log, pushing real events out of a `max_rows` quota. The first failure per (client IP, key id,
 * reason) is written at once; repeats within `limits.auth_failure_window` are counted and written as one
 * `key.auth_failed` event with `repeats: N` when the window closes (or when the server stops).
 */
export class AuthFailureLog {
  private readonly pending = new Map<string, Pending>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly ctx: AppContext) {}

  record(origin: Origin, failure: Failure, now = Date.now()): void {
    const key = `${origin.ip ?? "-"}|${failure.keyId ?? "-"}|${failure.reason}`;
    const seen = this.pending.get(key);
    if (seen && now < seen.windowEnds) {
      seen.repeats++;
      return;
    }
    if (seen) this.write(seen);
    this.pending.set(key, { origin, failure, repeats: 0, windowEnds: now + this.ctx.config.limits.authFailureWindow });
    this.writeEvent(origin, failure, 0);
    if (this.pending.size > 10_000) this.flush(); // bounded memory under a spray of distinct addresses
    this.timer ??= setInterval(() => this.sweep(), Math.min(5000, this.ctx.config.limits.authFailureWindow));
    this.timer.unref?.();
  }

  /** Writes the repeat counts of windows that have closed. */
  sweep(now = Date.now()): void {
    for (const [key, p] of this.pending) {
      if (now >= p.windowEnds) {
        this.pending.delete(key);
        this.write(p);
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
    return p.repeats > 0 ? this.writeEvent(p.origin, p.failure, p.repeats) : Promise.resolve();
  }

  private writeEvent(origin: Origin, failure: Failure, repeats: number): Promise<void> {
    const details: Record<string, unknown> = { reason: failure.reason, key_id: failure.keyId };
    if (repeats > 0) details.repeats = repeats;
    return this.ctx.db.write(() => recordEvent(this.ctx, origin, { type: "key.auth_failed", host: failure.host ?? "", details })).catch(() => {});
  }
}

/** The failure log of a running server (one per context). */
export const authFailureLog = onePer((ctx: AppContext) => new AuthFailureLog(ctx));
