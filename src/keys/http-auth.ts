import type { AppContext } from "../context.ts";
import { recordEvent, storedClientIp } from "../audit/service.ts";
import { clientIp, requestOrigin } from "../http/request-info.ts";
import { type ApiKey, markKeyUsed, recordAuthFailure, verifyApiKey } from "./service.ts";
import { limiterFor } from "./limits.ts";
import { retryAfterSeconds } from "../limits/rate.ts";
import { metrics } from "../metrics/index.ts";

/** Why a request with a key was refused; the HTTP layers map these to their own answers. */
export type AuthRefusal =
  | { ok: false; refusal: "locked_out" | "rate_limited"; retryAfter: string }
  | { ok: false; refusal: "missing" | "invalid"; retryAfter: null };
export type AuthResult = { ok: true; key: ApiKey } | AuthRefusal;

/**
 * Shared by /invites_api and /api/v1: the key check, then the key's rate. A key that verifies is served whatever its
 * network did: a lockout refuses only failing attempts, so a valid key behind a NAT or proxy shared with an attacker
 * keeps working. Outside a lockout a failure is audited (coalesced) and counted towards one; during a lockout it is
 * answered 429 like every other failure from that network, without an audit row or a count, so guessing there costs
 * at most one indexed read and one hash and tells nothing a 403 would not. A request with no key at all is refused
 * as usual but never counts towards a lockout: it guesses nothing, and ten keyless GETs must not lock a network out.
 */
export function authenticateRequest(ctx: AppContext, request: Request, secret: string | null, now = Date.now()): AuthResult {
  const check = verifyApiKey(ctx, secret, now);
  if (!check.ok) {
    const limiter = limiterFor(ctx);
    const ip = clientIp(request);
    if (check.reason === "missing") {
      recordAuthFailure(ctx, requestOrigin(request, "api", null), check);
      return { ok: false, refusal: "missing", retryAfter: null };
    }
    const lockedMs = limiter.lockedFor(ip, now);
    if (lockedMs > 0) {
      metrics.lockedOutRequests.inc();
      return { ok: false, refusal: "locked_out", retryAfter: retryAfterSeconds(lockedMs) };
    }
    const origin = requestOrigin(request, "api", check.keyId);
    const lockout = limiter.recordFailure(ip, now);
    recordAuthFailure(ctx, origin, check); // coalesced: repeats from one client cost no write each
    if (lockout) {
      metrics.lockouts.inc();
      ctx.db
        .write(() =>
          recordEvent(ctx, origin, {
            type: "auth.lockout",
            host: check.host ?? "",
            details: { network: lockout.network, failures: lockout.failures, until: lockout.until, lockout_ms: ctx.config.limits.lockout },
          }),
        )
        .catch(() => {});
    }
    return { ok: false, refusal: "invalid", retryAfter: null };
  }

  const waitMs = limiterFor(ctx).takeRate(check.key.id, check.key.rate, now);
  if (waitMs > 0) return { ok: false, refusal: "rate_limited", retryAfter: retryAfterSeconds(waitMs) };
  markKeyUsed(ctx, check.key.id, storedClientIp(ctx, clientIp(request))); // cut or dropped as [audit] says, like every stored address
  return check;
}

/** `Authorization: Bearer ID/TOKEN`, else null (the JSON API never reads ?key=). */
export function bearerKey(request: Request): string | null {
  const auth = request.headers.get("authorization");
  if (auth === null) return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
  return m ? m[1]! : null;
}
