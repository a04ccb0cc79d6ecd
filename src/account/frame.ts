import type { AppContext } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { ICON_CROSS, formPageHeaders, relativePath, renderPage } from "../web/layout.ts";
import { flash, postButton, type FlashKind } from "../web/parts.ts";
import { FormError, readForm } from "../web/form-body.ts";
import { checkSignedInPost, currentSession, originMatches, originOfAnyHost, type SignedIn } from "../sessions/http.ts";
import { retryAfterSeconds } from "../limits/rate.ts";

/**
 * What every account page shares: the paths under [server] account_path, the frame with its navigation, the
 * signed-in check, and the checked POST (Origin + csrf before anything changes). Pages only; no rules live here.
 */

export interface AccountPaths {
  base: string;
  login: string;
  logout: string;
  invites: string;
  password: string;
  sessions: string;
  signOutEverywhere: string;
  notMe: string;
  deleteAccount: string;
}

export function accountPaths(ctx: AppContext): AccountPaths {
  const base = ctx.config.server.accountPath;
  return {
    base,
    login: `${base}/login`,
    logout: `${base}/logout`,
    invites: `${base}/invites`,
    password: `${base}/password`,
    sessions: `${base}/sessions`,
    signOutEverywhere: `${base}/sessions/all`,
    notMe: `${base}/not-me`,
    deleteAccount: `${base}/delete`,
  };
}

/** A 303 to another account page (relative, so a proxy prefix keeps working), with extra headers such as Set-Cookie. */
export function seeOther(from: string, to: string, query = "", cookies: string[] = []): Response {
  const headers = new Headers({ Location: relativePath(from, to) + query, "Cache-Control": "no-store" });
  for (const c of cookies) headers.append("Set-Cookie", c);
  return new Response(null, { status: 303, headers });
}

export interface FrameOptions {
  ctx: AppContext;
  paths: AccountPaths;
  /** The path this page is served at. */
  path: string;
  title: string;
  body: RawHtml;
  signedIn: SignedIn | null;
  host: HostConfig | null;
  status?: number;
  /** Shown above the page's content. */
  notice?: { kind: FlashKind; text: string } | null;
  headers?: Record<string, string>;
}

/** An account page: navigation (when signed in), the card, and the headers of a page with forms. */
export function accountPage(o: FrameOptions): Response {
  const { paths, path } = o;
  const link = (to: string, label: string) => html`<a href="${relativePath(path, to)}"${to === path ? html` aria-current="page"` : ""}>${label}</a>`;
  const nav = o.signedIn
    ? html`<nav class="topnav" aria-label="Account">${link(paths.base, "My account")}${link(paths.invites, "My invites")}${link(paths.password, "Password")}
<span class="who">${o.signedIn.session.username}@${o.signedIn.host.name}</span>${postButton({ action: relativePath(path, paths.logout), csrf: o.signedIn.csrf, label: "Sign out", kind: "ghost", small: true })}</nav>`
    : null;
  const body = html`${o.notice ? flash(o.notice.kind, o.notice.text) : ""}${o.body}`;
  const page = renderPage({ title: o.title, path, brand: o.host?.name ?? null, body, nav });
  return new Response(page, { status: o.status ?? 200, headers: formPageHeaders(o.headers ?? {}) });
}

/** A page that says why nothing happened (403 for a forged or stale form, 413 for a huge body, ...). */
export function problemPage(o: { ctx: AppContext; paths: AccountPaths; path: string; status: number; title: string; text: string; host?: HostConfig | null; retryAfterMs?: number }): Response {
  const body = html`<div class="status-mark">${ICON_CROSS}</div><h1>${o.title}</h1><p class="lead">${o.text}</p>
<a class="btn ghost" href="${relativePath(o.path, o.paths.base)}">Back to my account</a>`;
  const res = accountPage({ ctx: o.ctx, paths: o.paths, path: o.path, title: o.title, body, signedIn: null, host: o.host ?? null, status: o.status });
  if (o.retryAfterMs !== undefined) res.headers.set("Retry-After", retryAfterSeconds(o.retryAfterMs));
  return res;
}

export const CROSS_ORIGIN_TEXT = "For your safety, this page only accepts forms sent from its own site. Nothing was changed. Go back, reload the page and try again.";

/** A signed-in page's GET: the member, or a 303 to the sign-in page. */
export async function requireSignedIn(ctx: AppContext, request: Request, paths: AccountPaths, path: string): Promise<SignedIn | Response> {
  const signedIn = await currentSession(ctx, request);
  return signedIn ?? seeOther(path, paths.login);
}

/**
 * A signed-in member's POST: signed in, Origin is the host's public_url, and the form carries the session's csrf
 * token. Otherwise a 303 to sign-in (no session) or a 403, and nothing changes.
 */
export async function readSignedInPost(ctx: AppContext, request: Request, paths: AccountPaths, path: string): Promise<{ signedIn: SignedIn; fields: Map<string, string> } | Response> {
  const signedIn = await currentSession(ctx, request);
  if (!signedIn) {
    // A forged cross-site POST without a session is refused the same way as one with a session.
    if (!originOfAnyHost(ctx, request)) return problemPage({ ctx, paths, path, status: 403, title: "This form was sent from another site", text: CROSS_ORIGIN_TEXT });
    return seeOther(path, paths.login);
  }
  // The Origin is checked before the body is read, so a forged POST costs no parsing.
  if (!originMatches(request, signedIn.host))
    return problemPage({ ctx, paths, path, status: 403, title: "This form was sent from another site", text: CROSS_ORIGIN_TEXT, host: signedIn.host });
  let fields: Map<string, string>;
  try {
    fields = await readForm(request);
  } catch (e) {
    if (!(e instanceof FormError)) throw e;
    return problemPage({ ctx, paths, path, status: e.status, title: "The form could not be read", text: `${e.message}. Go back and try again.`, host: signedIn.host });
  }
  if (checkSignedInPost(request, signedIn, fields) !== "ok")
    return problemPage({ ctx, paths, path, status: 403, title: "This form has expired", text: "The form was not sent by this browser's current session (or it was open too long). Nothing was changed. Reload the page and try again.", host: signedIn.host });
  return { signedIn, fields };
}
