import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { type ApiKey, type Scope, hasScope } from "../keys/service.ts";
import { authenticateRequest, bearerKey } from "../keys/http-auth.ts";
import { ApiError } from "./errors.ts";

/**
 * Bearer authentication for the /api/v1 controllers: `.use(apiAuth(ctx))` gives every route `apiKey` and `apiHost`,
 * and the `scope` option refuses a key without that scope. Both run before body/query validation, so an anonymous
 * caller learns nothing but 401/403/429.
 */
export function apiAuth(ctx: AppContext) {
  return new Elysia()
    .derive({ as: "scoped" }, ({ request }): { apiKey: ApiKey; apiHost: HostConfig } => {
      const auth = authenticateRequest(ctx, request, bearerKey(request));
      if (!auth.ok) {
        switch (auth.refusal) {
          case "locked_out":
            throw new ApiError("locked_out", "too many failed authentications from your network", { "Retry-After": auth.retryAfter });
          case "rate_limited":
            throw new ApiError("rate_limited", "this key is over its rate", { "Retry-After": auth.retryAfter });
          case "missing": {
            const viaQuery = /[?&]key=/.test(request.url);
            throw new ApiError(
              "missing_key",
              viaQuery ? "send the key as Authorization: Bearer ID/TOKEN; ?key= is not accepted here" : "send the key as Authorization: Bearer ID/TOKEN",
              { "WWW-Authenticate": 'Bearer realm="invited"' },
            );
          }
          default:
            throw new ApiError("invalid_key", "invalid API key");
        }
      }
      const host = Object.hasOwn(ctx.config.hosts, auth.key.host) ? ctx.config.hosts[auth.key.host] : undefined;
      if (!host) throw new ApiError("invalid_key", "invalid API key"); // its host is no longer configured
      return { apiKey: auth.key, apiHost: host };
    })
    .macro({
      scope: (scope: Scope) => ({
        transform({ apiKey }: { apiKey?: ApiKey }) {
          if (!apiKey || !hasScope(apiKey, scope)) throw new ApiError("insufficient_scope", `this call needs the scope ${scope}`);
        },
      }),
    });
}

/** For checks that depend on the body (reset invites, groups): same error as the route-level scope. */
export function requireScope(key: ApiKey, scope: Scope): void {
  if (!hasScope(key, scope)) throw new ApiError("insufficient_scope", `this call needs the scope ${scope}`);
}
