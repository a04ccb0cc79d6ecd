import type { AppContext } from "../context.ts";
import { onePer } from "../lib/memo.ts";
import { parseIp, truncateIp } from "../lib/ip.ts";
import { BucketLimiter } from "./rate.ts";
import { HashQueue } from "./hash-queue.ts";
import { metrics } from "../metrics/index.ts";

/**
 * The registration throttle (`[limits] registration_rate`, default 5/hour) and the server's hash queue. Both live
 * in the memory of the serving process, like the key limiter: a restart forgets them.
 */

export type Attempt = { ok: true } | { ok: false; retryAfterMs: number };

const throttleFor = onePer((ctx: AppContext) => {
  const rate = ctx.config.limits.registrationRate;
  return rate ? new BucketLimiter(rate) : null;
});

/**
 * Counts one registration attempt that passed the cheap checks and is about to cost something (a hash, a provider
 * call), per client network ([limits] ipv4_prefix / ipv6_prefix). Over the rate the caller refuses, touching nothing.
 */
export function takeRegistrationAttempt(ctx: AppContext, ip: string | null, now = Date.now()): Attempt {
  const limiter = throttleFor(ctx);
  if (limiter === null || ip === null) return { ok: true };
  const addr = parseIp(ip);
  if (addr === null) return { ok: true };
  const wait = limiter.take(truncateIp(addr, ctx.config.limits.ipv4Prefix, ctx.config.limits.ipv6Prefix), now);
  return wait === 0 ? { ok: true } : { ok: false, retryAfterMs: wait };
}

/** The one hash queue of a process ([limits] hash_concurrency, hash_queue). */
export const hashQueueFor = onePer((ctx: AppContext) => {
  const queue = new HashQueue(ctx.config.limits.hashConcurrency, ctx.config.limits.hashQueue);
  metrics.hashQueue.collectWith((g) => g.set(queue.depth));
  return queue;
});
