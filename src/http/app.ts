import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { invitesApi, invitesApiError, invitesApiNotAllowed } from "../invites/prosody-api.ts";
import { homePage } from "../pages/home.ts";
import { assetRoutes, landingPages } from "../pages/routes.ts";
import { registrationPages } from "../registration/routes.ts";
import { accountPages } from "../account/routes.ts";
import { consolePages } from "../console/routes.ts";
import { health } from "./health.ts";
import { apiV1 } from "../api/index.ts";
import { isStorageUnavailable } from "../db/errors.ts";
import { logStorageError } from "./errors.ts";
import { setMatchedRoute } from "./request-info.ts";
import { metricsRoutes } from "../metrics/routes.ts";
import { pathOf } from "../lib/url.ts";

/** The Elysia root: one plugin per feature, and the error-to-status mapping every route shares. */
export function createApp(ctx: AppContext) {
  return new Elysia({ name: "invited" })
    .onTransform(({ request, route }) => setMatchedRoute(request, route))
    .onError(({ code, error, request, route }) => {
      setMatchedRoute(request, route);
      // Every answer of /invites_api carries its CORS headers, errors included, so a browser client can read them.
      const onInvitesApi = pathOf(request.url) === ctx.config.server.invitesApiPath;
      const fail = onInvitesApi ? invitesApiError : plain;
      if (code === "NOT_FOUND") {
        // The router only knows standard methods; any other method on the API path is still a 405, not a 404.
        if (onInvitesApi) return invitesApiNotAllowed();
        return plain(404, "not found");
      }
      if (code === "PARSE") return fail(400, "malformed request body");
      if (code === "VALIDATION") return fail(400, "invalid request");
      if (code === "INVALID_COOKIE_SIGNATURE") return fail(400, "invalid cookie");
      if (isStorageUnavailable(error)) {
        logStorageError(ctx)(error);
        return fail(503, "service temporarily unavailable", { "Retry-After": "5" });
      }
      ctx.log.error(`unhandled error: ${(error as Error)?.stack ?? String(error)}`);
      return fail(500, "internal error");
    })
    .use(health(ctx))
    .use(metricsRoutes(ctx))
    .use(invitesApi(ctx))
    .use(apiV1(ctx))
    .use(landingPages(ctx))
    .use(registrationPages(ctx))
    .use(accountPages(ctx))
    .use(consolePages(ctx))
    .use(assetRoutes(ctx))
    .use(homePage(ctx));
}

function plain(status: number, message: string, extra: Record<string, string> = {}): Response {
  return new Response(`${message}\n`, { status, headers: { "Content-Type": "text/plain; charset=utf-8", ...extra } });
}

