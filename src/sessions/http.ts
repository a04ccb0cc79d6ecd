import type { AppContext } from "../context.ts";
import { getHost, type HostConfig } from "../config/index.ts";
import { requestOrigin } from "../http/request-info.ts";
import { csrfTokenFor, csrfTokenMatches, findSession, touchSession, type Session } from "./service.ts";

/**
 * The HTTP side of sessions, for the page doors: the cookie, the signed-in member of a request, and the two CSRF
 * checks every state-changing POST passes (Origin = the host's public_url, and the session's `csrf` field).
 */

const PLAIN_NAME = "invited_session";
/** With https the cookie takes the __Host- prefix: the browser then insists on Secure, Path=/ and no Domain. */
const SECURE_NAME = "__Host-invited_session";
const LOGIN_PLAIN_NAME = "invited_login";
const LOGIN_SECURE_NAME = "__Host-invited_login";

export function isHttps(host: HostConfig): boolean {
  return host.publicUrl.startsWith("https:");
}

function cookie(name: string, value: string, secure: boolean, maxAgeSeconds: number): string {
  return `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
}

/** Set-Cookie for a new session of a member of `host`. It lives as long as the session's absolute lifetime. */
export function sessionCookie(ctx: AppContext, host: HostConfig, secret: string): string {
  const secure = isHttps(host);
  return cookie(secure ? SECURE_NAME : PLAIN_NAME, secret, secure, Math.floor(ctx.config.sessions.lifetime / 1000));
}

/** Set-Cookie headers that remove the session cookie under either name. */
export function clearedSessionCookies(): string[] {
  return [cookie(SECURE_NAME, "", true, 0), cookie(PLAIN_NAME, "", false, 0)];
}

/** The sign-in form's own anti-forgery cookie (there is no session yet): https when every host is. */
export function loginCookie(ctx: AppContext, value: string): string {
  const secure = Object.values(ctx.config.hosts).every(isHttps);
  return cookie(secure ? LOGIN_SECURE_NAME : LOGIN_PLAIN_NAME, value, secure, 3600);
}

export function clearedLoginCookies(): string[] {
  return [cookie(LOGIN_SECURE_NAME, "", true, 0), cookie(LOGIN_PLAIN_NAME, "", false, 0)];
}

/** One cookie's value from the Cookie header, or null. A cookie sent twice under one name counts as none. */
export function readCookie(request: Request, name: string): string | null {
  const header = request.headers.get("cookie");
  if (!header || header.length > 8192) return null;
  let found: string | null = null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    if (found !== null) return null;
    found = part.slice(eq + 1).trim();
  }
  return found;
}

export function sessionSecret(request: Request): string | null {
  return readCookie(request, SECURE_NAME) ?? readCookie(request, PLAIN_NAME);
}

export function loginSecret(request: Request): string | null {
  return readCookie(request, LOGIN_SECURE_NAME) ?? readCookie(request, LOGIN_PLAIN_NAME);
}

/** The origin of a host's public_url: what a browser's Origin header says for a form served there. */
export function publicOrigin(host: HostConfig): string {
  return new URL(host.publicUrl).origin;
}

/** Whether the request's Origin header is exactly the host's public origin (a missing or `null` Origin is not). */
export function originMatches(request: Request, host: HostConfig): boolean {
  return request.headers.get("origin") === publicOrigin(host);
}

/** Whether the request's Origin is the public origin of any configured host (the sign-in form, before the host is known). */
export function originOfAnyHost(ctx: AppContext, request: Request): boolean {
  const origin = request.headers.get("origin");
  return origin !== null && Object.values(ctx.config.hosts).some((h) => publicOrigin(h) === origin);
}

export interface SignedIn {
  session: Session;
  host: HostConfig;
  /** The cookie's value (never shown on a page). */
  secret: string;
  /** The token this session's forms carry in their `csrf` field. */
  csrf: string;
}

/** The signed-in member of a request, or null; a live session's last use is recorded. */
export async function currentSession(ctx: AppContext, request: Request): Promise<SignedIn | null> {
  const secret = sessionSecret(request);
  const session = findSession(ctx, secret);
  if (!session || !secret) return null;
  const host = getHost(ctx.config, session.host);
  if (!host) return null; // its host is no longer configured
  await touchSession(ctx, session, requestOrigin(request, "web", null));
  return { session, host, secret, csrf: csrfTokenFor(secret) };
}

export type PostCheck = "ok" | "cross_origin" | "bad_csrf";

/** The two checks of a signed-in member's POST: its Origin is the host's public_url, and it carries the session's token. */
export function checkSignedInPost(request: Request, signedIn: SignedIn, fields: Map<string, string>): PostCheck {
  if (!originMatches(request, signedIn.host)) return "cross_origin";
  if (!csrfTokenMatches(signedIn.secret, fields.get("csrf"))) return "bad_csrf";
  return "ok";
}
