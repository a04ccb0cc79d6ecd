import type { AppContext } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { ICON_CROSS, formPageHeaders, relativePath, renderPage } from "../web/layout.ts";
import { flash, postButton, type FlashKind } from "../web/parts.ts";
import { FormError, readForm } from "../web/form-body.ts";
import { checkSignedInPost, currentSession, originMatches, originOfAnyHost, type SignedIn } from "../sessions/http.ts";
import { retryAfterSeconds } from "../limits/rate.ts";
import { languageHeaders, type MessageKey, type PageLanguage } from "../i18n/index.ts";
import { languagesOf } from "../web/language.ts";
import type { FormProblem } from "../web/form-body.ts";


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
  notice?: { kind: FlashKind; text: RawHtml | string } | null;
  headers?: Record<string, string>;
  language: PageLanguage;
  /** The picker's links are `${languageQuery}lang=xx`; no picker without it (a page answering a POST). */
  languageQuery?: string | null;
}

/** An account page: navigation (when signed in), the card, and the headers of a page with forms. */
export function accountPage(o: FrameOptions): Response {
  const { paths, path, language } = o;
  const { m } = language;
  const link = (to: string, label: MessageKey) => html`<a href="${relativePath(path, to)}"${to === path ? html` aria-current="page"` : ""}>${m.html(label)}</a>`;
  const nav = o.signedIn
    ? html`<nav class="topnav" aria-label="${m.text("account_nav")}">${link(paths.base, "account_nav_home")}${link(paths.invites, "account_nav_invites")}${link(paths.password, "account_nav_password")}
<bdi class="who">${o.signedIn.session.username}@${o.signedIn.host.name}</bdi>${postButton({ action: relativePath(path, paths.logout), csrf: o.signedIn.csrf, label: m.text("account_sign_out"), kind: "ghost", small: true })}</nav>`
    : null;
  const body = html`${o.notice ? flash(o.notice.kind, o.notice.text) : ""}${o.body}`;
  const page = renderPage({ title: o.title, path, brand: o.host?.name ?? null, site: o.host ?? null, body, nav, language, languageQuery: o.languageQuery ?? null });
  return new Response(page, { status: o.status ?? 200, headers: formPageHeaders({ ...languageHeaders(language), ...(o.headers ?? {}) }) });
}

/** A page that says why nothing happened (403 for a forged or stale form, 413 for a huge body, ...). */
export function problemPage(o: {
  ctx: AppContext;
  paths: AccountPaths;
  path: string;
  status: number;
  title: string;
  text: RawHtml | string;
  host?: HostConfig | null;
  retryAfterMs?: number;
  language: PageLanguage;
}): Response {
  const back = o.language.m.html("account_back");
  const body = html`<div class="status-mark">${ICON_CROSS}</div><h1>${o.title}</h1><p class="lead">${o.text}</p>
<a class="btn ghost" href="${relativePath(o.path, o.paths.base)}">${back}</a>`;
  const res = accountPage({ ctx: o.ctx, paths: o.paths, path: o.path, title: o.title, body, signedIn: null, host: o.host ?? null, status: o.status, language: o.language });
  if (o.retryAfterMs !== undefined) res.headers.set("Retry-After", retryAfterSeconds(o.retryAfterMs));
  return res;
}

/** What a form body's problem is, in the page's language (the same texts as the registration form's). */
export const FORM_PROBLEM_TEXT: Record<FormProblem, MessageKey> = {
  too_large: "problem_body_too_large",
  unreadable: "problem_body_unreadable",
  content_type: "problem_content_type",
  malformed: "problem_malformed",
  file_upload: "problem_file_upload",
  too_many_fields: "problem_too_many_fields",
  repeated_field: "problem_repeated_field",
};


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
    if (!originOfAnyHost(ctx, request)) {
      const language = languagesOf(ctx, null).choose(request);
      return problemPage({ ctx, paths, path, status: 403, title: language.m.text("problem_cross_site_title"), text: language.m.html("signin_cross_site_text"), language });
    }
    return seeOther(path, paths.login);
  }
  const language = languagesOf(ctx, signedIn.host).choose(request);
  const { m } = language;
  // The Origin is checked before the body is read, so a forged POST costs no parsing.
  if (!originMatches(request, signedIn.host))
    return problemPage({ ctx, paths, path, status: 403, title: m.text("problem_cross_site_title"), text: m.html("signin_cross_site_text"), host: signedIn.host, language });
  let fields: Map<string, string>;
  try {
    fields = await readForm(request);
  } catch (e) {
    if (!(e instanceof FormError)) throw e;
    return problemPage({ ctx, paths, path, status: e.status, title: m.text("problem_unreadable_title"), text: m.html(FORM_PROBLEM_TEXT[e.problem], { field: e.field ?? "" }), host: signedIn.host, language });
  }
  if (checkSignedInPost(request, signedIn, fields) !== "ok")
    return problemPage({ ctx, paths, path, status: 403, title: m.text("signin_expired_title"), text: m.html("account_expired_text"), host: signedIn.host, language });
  return { signedIn, fields };
}
