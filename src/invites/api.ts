import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { recordAuthFailure, verifyApiKey, markKeyUsed } from "../keys/service.ts";
import { createInvite } from "./service.ts";
import { requestOrigin } from "../http/request-info.ts";

const CORS_HEADERS = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Max-Age": "7200",
  "Access-Control-Allow-Headers": "Content-Type, Authorization",
  "Access-Control-Allow-Methods": "OPTIONS, GET, POST",
};

function answer(status: number, extra: Record<string, string> = {}, body: string | null = null): Response {
  return new Response(body, { status, headers: { ...CORS_HEADERS, ...extra } });
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

/** 405 with the CORS headers; also used by the app for methods the router does not know (PROPFIND...). */
export const invitesApiNotAllowed = () => answer(405, { Allow: "OPTIONS, GET, POST" });
const notAllowed = invitesApiNotAllowed;

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
    const query = new URLSearchParams(q >= 0 ? url.slice(q + 1) : "");
    const check = verifyApiKey(ctx, presentedKey(request, query));
    if (!check.ok) {
      const origin = requestOrigin(request, "api", check.keyId);
      recordAuthFailure(ctx, origin, check);
      return answer(403);
    }
    const host = ctx.config.hosts[check.key.host];
    if (!host) return answer(403); // key of a host that is no longer configured
    const origin = requestOrigin(request, "api", check.key.id);
    markKeyUsed(ctx, check.key.id, origin.ip);
    const created = await createInvite(ctx, origin, { host, createdBy: `api/token/${check.key.id}` });
    return answer(wantsRedirect(query) ? 303 : 201, { Location: created.url });
  };
  return new Elysia({ name: "invites-api" })
    .head(path, notAllowed) // registered first: a HEAD must never reach the GET handler and mint an invite
    .get(path, mint)
    .post(path, mint)
    .options(path, () => answer(204))
    .all(path, notAllowed);
}
