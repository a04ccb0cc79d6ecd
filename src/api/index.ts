import { Elysia, type AnyElysia } from "elysia";
import { cors } from "@elysiajs/cors";
import type { AppContext } from "../context.ts";
import { isStorageUnavailable } from "../db/errors.ts";
import { logStorageError } from "../http/errors.ts";
import { ApiError, errorResponse } from "./errors.ts";
import { invitesController } from "./invites.ts";
import { auditController } from "./audit.ts";
import { xmppController } from "./xmpp.ts";
import { accountsController } from "./accounts.ts";
import { docsPage, openApiDocument, type OpenApiDocument } from "./openapi.ts";
import { pathOf } from "../lib/url.ts";

export const API_PREFIX = "/api/v1";

/**
 * The JSON API. It runs as its own Elysia app behind one catch-all route of the root app: @elysiajs/cors hooks every
 * request of the app it is used in (it would answer the OPTIONS of /invites_api too), so it must not share the root.
 * The same Request object is handed on, so client IP resolution and the request log work as for any other route.
 */
export function apiV1(ctx: AppContext) {
  // Built on first use, from the routes below.
  let doc: OpenApiDocument | null = null;
  let docsHtml: string | null = null;
  const document = (): OpenApiDocument => (doc ??= openApiDocument(api as AnyElysia));
  const docs = (): string => (docsHtml ??= docsPage(document()));

  const api: AnyElysia = new Elysia({ name: "api-v1", normalize: false })
    .use(
      // Bearer tokens, no cookies: any origin may call, nothing is credentialed.
      cors({
        origin: "*",
        credentials: false,
        methods: ["GET", "POST", "DELETE", "OPTIONS"],
        allowedHeaders: ["Authorization", "Content-Type"],
        exposeHeaders: ["Location", "Retry-After", "WWW-Authenticate"],
        maxAge: 7200,
        preflight: true,
      }),
    )
    .onRequest(({ set }) => {
      set.headers["cache-control"] = "no-store"; // answers carry tokens and live data
    })
    .onError(({ code, error, request }) => {
      if (error instanceof ApiError) return errorResponse(error.code, error.message, error.headers);
      switch (code) {
        case "NOT_FOUND":
          return notFoundOrNotAllowed(request);
        case "PARSE": {
          // parseJsonBody's refusals arrive wrapped in Elysia's ParseError.
          const cause = (error as { cause?: unknown }).cause;
          if (cause instanceof ApiError) return errorResponse(cause.code, cause.message, cause.headers);
          return errorResponse("invalid_json", "the body is not valid JSON (send {} for all defaults)");
        }
        case "VALIDATION":
          if ((error as { type?: string }).type === "response") break; // our bug, not the caller's
          return errorResponse("invalid_request", validationMessage(error));
      }
      if (isStorageUnavailable(error)) {
        logStorageError(ctx)(error);
        return errorResponse("storage_unavailable", "storage temporarily unavailable", { "Retry-After": "5" });
      }
      ctx.log.error(`unhandled error in ${API_PREFIX}: ${(error as Error)?.stack ?? String(error)}`);
      return errorResponse("internal_error", "internal error");
    })
    .use(invitesController(ctx))
    .use(auditController(ctx))
    .use(xmppController(ctx))
    .use(accountsController(ctx))
    .get(`${API_PREFIX}/openapi.json`, () => Response.json(document()), { detail: { hide: true } })
    .get(`${API_PREFIX}/docs`, () => new Response(docs(), { headers: DOCS_HEADERS }), { detail: { hide: true } });

  const routes = api.routes
    .filter((r) => r.path.startsWith(API_PREFIX) && r.method !== "OPTIONS")
    .map((r) => ({ method: r.method, re: new RegExp(`^${r.path.replace(/:[^/]+/g, "[^/]+")}$`) }));
  function notFoundOrNotAllowed(request: Request): Response {
    const path = pathOf(request.url);
    const allowed = [...new Set(routes.filter((r) => r.re.test(path)).map((r) => r.method))];
    if (allowed.length === 0) return errorResponse("not_found", `no route ${path.slice(0, 200)}`);
    const allow = [...allowed, "OPTIONS"].join(", ");
    return errorResponse("method_not_allowed", `${request.method.slice(0, 16)} is not allowed here (allowed: ${allow})`, { Allow: allow });
  }

  const forward = async ({ request }: { request: Request }): Promise<Response> => {
    const response = await api.handle(request);
    // @elysiajs/cors sends `Vary: *` with a literal `*` origin; the answer does not vary by Origin, and `*` would
    // make it uncacheable for no reason.
    if (response.headers.get("vary") === "*") response.headers.delete("vary");
    return response;
  };
  return new Elysia({ name: "api-v1-mount" }).all(API_PREFIX, forward).all(`${API_PREFIX}/*`, forward);
}

const DOCS_HEADERS = {
  "Content-Type": "text/html; charset=utf-8",
  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

/** Which field failed and why, without echoing the value (a body may carry an invite token). */
function validationMessage(error: unknown): string {
  const e = error as { type?: string; customError?: unknown; valueError?: { path?: string; message?: string } };
  if (typeof e.customError === "string") return e.customError; // the schemas' own wording for their fields
  const where = e.type === "property" ? "query" : (e.type ?? "request");
  const v = e.valueError;
  if (!v) return `invalid ${where}`;
  const field = v.path ? v.path.replace(/^\//, "").replace(/\//g, ".") : "";
  return `invalid ${where}${field ? ` field '${field}'` : ""}: ${v.message ?? "does not match the schema"}`.slice(0, 300);
}
