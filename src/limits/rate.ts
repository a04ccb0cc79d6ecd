/**
 * Rates in the one grammar every limit uses (`60/min`, `5/hour`) and a bounded token-bucket limiter keyed by any
 * string (a key id, a client network). Knows no feature: API keys and registration both use it.
 */

const RATE_RE = /^([1-9][0-9]{0,6})\/(sec|min|hour|day)$/;
export const PERIODS: Record<string, number> = { sec: 1000, min: 60_000, hour: 3_600_000, day: 86_400_000 };

export interface Rate {
  /** Requests allowed per period; also the burst size. */
  count: number;
  periodMs: number;
}

/** Parses a rate like `60/min` (N/sec, N/min, N/hour or N/day, N from 1 to 9999999); null when invalid. */
export function parseRate(text: string): Rate | null {
  const m = RATE_RE.exec(text);
  return m ? { count: Number(m[1]), periodMs: PERIODS[m[2]!]! } : null;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * One token bucket per key, all with the same rate: a bucket holds `count` tokens (the burst) and refills at
 * `count` per period. At most `maxEntries` buckets are kept; full ones (which carry no state worth keeping) go
 * first, then the oldest, so a spray of distinct keys cannot grow memory.
 */
export class BucketLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly rate: Rate,
    private readonly maxEntries = 100_000,
  ) {}

  /** Takes one token. Returns 0 when allowed, else the milliseconds until a token will be there. */
  take(key: string, now: number): number {
    const { count, periodMs } = this.rate;
    let b = this.buckets.get(key);
    if (b === undefined) {
      this.bound(now);
      b = { tokens: count, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(count, b.tokens + ((now - b.at) * count) / periodMs);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) * periodMs) / count - 1e-6); // - 1e-6: float noise must not add a ms
  }

  get size(): number {
    return this.buckets.size;
  }

  private bound(now: number): void {
    if (this.buckets.size < this.maxEntries) return;
    const { count, periodMs } = this.rate;
    for (const [k, b] of this.buckets) if (b.tokens + ((now - b.at) * count) / periodMs >= count) this.buckets.delete(k);
    for (const k of this.buckets.keys()) {
      if (this.buckets.size < this.maxEntries) break;
      this.buckets.delete(k);
    }
  }
}

/** Retry-After value: whole seconds, at least 1. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}
