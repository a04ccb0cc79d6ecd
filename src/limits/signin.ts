import type { AppContext } from "../context.ts";
import { onePer } from "../lib/memo.ts";
import { parseIp, truncateIp } from "../lib/ip.ts";
import { BucketLimiter } from "./rate.ts";
import type { Attempt } from "./registration.ts";

/**
 * The sign-in throttles, in the serving process's memory like the other limits: `[limits] signin_rate` per client
 * network (default 10/min) and `signin_account_rate` per account name (default 10/hour), counted for every attempt
 * whether the account exists or not, so the throttle itself tells nothing about which names exist.
 */

const perNetwork = onePer((ctx: AppContext) => (ctx.config.limits.signinRate ? new BucketLimiter(ctx.config.limits.signinRate) : null));
const perAccount = onePer((ctx: AppContext) => (ctx.config.limits.signinAccountRate ? new BucketLimiter(ctx.config.limits.signinAccountRate) : null));

/** Counts one sign-in attempt for the client's network and for `account` (name@host); refused when either is over. */
export function takeSignInAttempt(ctx: AppContext, ip: string | null, account: string, now = Date.now()): Attempt {
  const network = perNetwork(ctx);
  const addr = ip ? parseIp(ip) : null;
  if (network && addr) {
    const wait = network.take(truncateIp(addr, ctx.config.limits.ipv4Prefix, ctx.config.limits.ipv6Prefix), now);
    if (wait > 0) return { ok: false, retryAfterMs: wait };
  }
  const byAccount = perAccount(ctx);
  if (byAccount) {
    const wait = byAccount.take(account, now);
    if (wait > 0) return { ok: false, retryAfterMs: wait };
  }
  return { ok: true };
}
