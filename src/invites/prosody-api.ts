import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { hasScope } from "../keys/service.ts";
import { authenticateRequest } from "../keys/http-auth.ts";
import { createInvite } from "./service.ts";
import { createdInviteView } from "./view.ts";
import { requestOrigin } from "../http/request-info.ts";

// Built once: a Response copies a Headers object natively, about a third of the cost of converting a plain object
// on every answer. (The copy is the response's own, so setting Location on it leaves this one untouched.)
// Every answer is no-store, not only those that carry a token (Location, the JSON body): nothing here may be cached.
const ANSWER_HEADERS = new Headers({
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Max-Age": "7200",
  "Access-Control-Allow-Headers": "Content-Type, Authorization",
  "Access-Control-Allow-Methods": "OPTIONS, GET, POST",
  "Cache-Control": "no-store",
});

const NO_QUERY = new URLSearchParams();

function answer(status: number, extra?: Record<string, string>, body: string | null = null): Response {
  const response = new Response(body, { status, headers: ANSWER_HEADERS });
  if (extra) for (const name in extra) response.headers.set(name, extra[name]!);
  return response;
}

/** The key from `Authorization: Bearer ID/TOKEN` or, when no Authorization header is sent, from `?key=`. */
export function presentedKey(request: Request, query: URLSearchParams): string | null {
  const auth = request.headers.get("authorization");
  if (auth !== null) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
    return m ? m[1]! : null;
  }
  const keys = query.getAll("key");
  return keys.length === 1 ? keys[0]! : null; // repeated key= is ambiguous: refuse it
}

/** An error answer of this path (the app's 400/503/500), with the CORS and cache headers every answer here carries. */
export function invitesApiError(status: number, message: string, extra: Record<string, string> = {}): Response {
  return answer(status, { "Content-Type": "text/plain; charset=utf-8", ...extra }, `${message}\n`);
}

/** 405 with the CORS and cache headers; also used by the app for methods the router does not know (PROPFIND...). */
export const invitesApiNotAllowed = () => answer(405, { Allow: "OPTIONS, GET, POST" });
const notAllowed = invitesApiNotAllowed;

/** `Accept: application/json` asks for a JSON description of the new invite; otherwise the body stays empty. */
function wantsJson(request: Request): boolean {
  const accept = request.headers.get("accept");
  return accept !== null && accept.includes("application/json");
}

function wantsRedirect(query: URLSearchParams): boolean {
  const v = query.get("redirect");
  return v !== null && v !== "false" && v !== "0";
}

/**
 * `/invites_api`: Prosody mod_invites_api compatible. A valid key mints one account invite for the key's host and
 * answers 201 (or 303 with `redirect`) with the landing-page URL in Location.
 */
export function invitesApi(ctx: AppContext) {
  const path = ctx.config.server.invitesApiPath;
  const mint = async ({ request }: { request: Request }) => {
    const url = request.url;
    const q = url.indexOf("?");
    const query = q >= 0 ? new URLSearchParams(url.slice(q + 1)) : NO_QUERY;
    const auth = authenticateRequest(ctx, request, presentedKey(request, query));
    if (!auth.ok) return auth.retryAfter === null ? answer(403) : answer(429, { "Retry-After": auth.retryAfter });
    const key = auth.key;
    const host = Object.hasOwn(ctx.config.hosts, key.host) ? ctx.config.hosts[key.host] : undefined;
    if (!host || !hasScope(key, "invite:create")) return answer(403); // host no longer configured, or a key for other calls
    const origin = requestOrigin(request, "api", key.id);
    // The host's default lifetime, cut to the key's ceiling.
    const ttl = key.maxTtl !== null && host.inviteTtl > key.maxTtl ? key.maxTtl : undefined;
    const created = await createInvite(ctx, origin, { host, ttl, createdBy: `api/token/${key.id}` });
    const status = wantsRedirect(query) ? 303 : 201;
    if (wantsJson(request)) return answer(status, { Location: created.url, "Content-Type": "application/json" }, JSON.stringify(createdInviteView(created)));
    return answer(status, { Location: created.url });
  };
  return new Elysia({ name: "invites-api" })
    .head(path, notAllowed) // registered first: a HEAD must never reach the GET handler and mint an invite
    .get(path, mint)
    .post(path, mint)
    .options(path, () => answer(204))
    .all(path, notAllowed);
}
