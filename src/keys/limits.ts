import type { AppContext } from "../context.ts";
import { onePer } from "../lib/memo.ts";
import type { Config } from "../config/index.ts";
import { parseIp, truncateIp } from "../lib/ip.ts";
import { BucketLimiter, parseRate } from "../limits/rate.ts";

/**
 * Abuse control for API keys, kept in process memory: a token bucket per key (the key's `rate`) and a failure counter
 * plus lockout per client network (`[limits]`); a lockout refuses only keys that fail, never one that verifies. Nothing is persisted: a restart forgets buckets, failure counts and
 * lockouts, and several processes would each keep their own. Entries expire on their own and the maps are bounded,
 * so a flood of addresses cannot grow memory without limit.
 */

interface Failures {
  count: number;
  since: number;
}

export interface Lockout {
  /** The locked client network, e.g. `203.0.113.7/32` or `2001:db8::/64`. */
  network: string;
  failures: number;
  until: number;
}

/** Per-process limiter state; one per AppContext (see limiterFor). */
export class KeyLimiter {
  private readonly failures = new Map<string, Failures>();
  private readonly locked = new Map<string, number>();
  private readonly rates = new Map<string, BucketLimiter | null>();

  constructor(
    private readonly limits: Pick<Config["limits"], "authFailures" | "authWindow" | "lockout" | "ipv4Prefix" | "ipv6Prefix">,
    private readonly maxEntries = 100_000,
  ) {}

  /** False when `auth_failures = 0`: failures are neither counted nor locked out. */
  get lockoutEnabled(): boolean {
    return this.limits.authFailures > 0;
  }

  /** The client network an address is counted under ([limits] ipv4_prefix / ipv6_prefix). */
  network(ip: string): string | null {
    if (ip === this.lastIp) return this.lastNetwork; // bursts come from one address: skip re-parsing it
    const addr = parseIp(ip);
    this.lastIp = ip;
    this.lastNetwork = addr ? truncateIp(addr, this.limits.ipv4Prefix, this.limits.ipv6Prefix) : null;
    return this.lastNetwork;
  }
  private lastIp: string | null = null;
  private lastNetwork: string | null = null;

  /** Milliseconds until this client's lockout ends; 0 when it is not locked out. Costs nothing while no one is. */
  lockedFor(ip: string | null, now: number): number {
    if (this.locked.size === 0 || ip === null) return 0;
    const net = this.network(ip);
    if (net === null) return 0;
    const until = this.locked.get(net);
    if (until === undefined) return 0;
    if (now >= until) {
      this.locked.delete(net);
      return 0;
    }
    return until - now;
  }

  /**
   * Counts one failed authentication from `ip`. Failures are counted in a window that opens at the first failure and
   * lasts auth_window; the auth_failures-th failure inside it locks the network out for `lockout` and is returned so
   * the caller can audit it. The caller does not count failures made during a lockout (they neither add up nor
   * extend it), nor requests without any key.
   */
  recordFailure(ip: string | null, now: number): Lockout | null {
    if (!this.lockoutEnabled || ip === null) return null;
    const net = this.network(ip);
    if (net === null) return null;
    let f = this.failures.get(net);
    if (f === undefined || now - f.since >= this.limits.authWindow) {
      if (f !== undefined) this.failures.delete(net); // re-insert so Map order stays oldest-first for eviction
      f = { count: 0, since: now };
      this.bound(this.failures, (v) => now - v.since >= this.limits.authWindow);
      this.failures.set(net, f);
    }
    f.count++;
    if (f.count < this.limits.authFailures) return null;
    this.failures.delete(net);
    const until = now + this.limits.lockout;
    this.bound(this.locked, (v) => now >= v);
    this.locked.set(net, until);
    return { network: net, failures: f.count, until };
  }

  /**
   * Takes one request from the key's bucket. Returns 0 when allowed, else the milliseconds until a request would be.
   * A bucket holds `count` requests (the burst) and refills at count per period. A key without a rate is unlimited.
   * One BucketLimiter per distinct rate: a key whose rate changes starts with a full bucket of the new rate.
   */
  takeRate(keyId: string, rateText: string | null, now: number): number {
    if (rateText === null) return 0;
    let limiter = this.rates.get(rateText);
    if (limiter === undefined) {
      if (this.rates.size > 1000) this.rates.clear();
      const rate = parseRate(rateText);
      limiter = rate ? new BucketLimiter(rate, this.maxEntries) : null;
      this.rates.set(rateText, limiter);
    }
    // An unreadable rate in the database (the CLI never writes one): do not lock the key out.
    return limiter === null ? 0 : limiter.take(keyId, now);
  }

  /** Keeps a map under maxEntries: drops stale entries first, then the oldest. */
  private bound<V>(map: Map<string, V>, stale: (v: V) => boolean): void {
    if (map.size < this.maxEntries) return;
    for (const [k, v] of map) if (stale(v)) map.delete(k);
    for (const k of map.keys()) {
      if (map.size < this.maxEntries) break;
      map.delete(k);
    }
  }
}

/** The limiter of a running server (one per context, shared by /invites_api and /api/v1). */
export const limiterFor = onePer((ctx: AppContext) => new KeyLimiter(ctx.config.limits));
