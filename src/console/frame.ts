import type { AppContext, Origin } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { AddressMatcher, parseIp } from "../lib/ip.ts";
import { clientIp, requestOrigin } from "../http/request-info.ts";
import { CONTENT_SECURITY_POLICY, ICON_CROSS, formPageHeaders, relativePath, renderPage } from "../web/layout.ts";
import { csrfField, flash, postButton, type FlashKind } from "../web/parts.ts";
import { FormError, readFormFields, type FormFields } from "../web/form-body.ts";
import { checkSignedInPost, currentSession, originMatches, originOfAnyHost, type SignedIn } from "../sessions/http.ts";
import { findAccount, type Account } from "../accounts/service.ts";
import { isAdmin } from "../accounts/roles.ts";
import { consoleText, type ConsoleText } from "./messages.ts";
import { languageHeaders, type PageLanguage } from "../i18n/index.ts";
import { languagesOf } from "../web/language.ts";
import { FORM_PROBLEM_TEXT } from "../account/frame.ts";

/**
 * What every console page shares: the paths under [server] admin_path, the address gate ([server] admin_allow),
 * the admin check (signed in, with TOTP, role `admin` on the session's host), the checked POST (Origin + csrf),
 * the confirmation page of destructive actions, and the frame. Pages only; no rules live here.
 */

export interface ConsolePaths {
  base: string;
  map: string;
  invites: string;
  accounts: string;
  keys: string;
  audit: string;
  outbox: string;
  script: string;
  login: string;
  logout: string;
}

export function consolePaths(ctx: AppContext): ConsolePaths {
  const base = ctx.config.server.adminPath;
  const account = ctx.config.server.accountPath;
  return {
    base,
    map: `${base}/map`,
    invites: `${base}/invites`,
    accounts: `${base}/accounts`,
    keys: `${base}/keys`,
    audit: `${base}/audit`,
    outbox: `${base}/outbox`,
    script: `${base}/console.js`,
    login: `${account}/login`,
    logout: `${account}/logout`,
  };
}

/** The console's pages may load its one same-origin script (the copy button); nothing inline. */
export const CONSOLE_CSP = CONTENT_SECURITY_POLICY.replace("default-src 'none';", "default-src 'none'; script-src 'self';");

/** A signed-in admin: the session, the account, and the Origin that its actions are audited with. */
export interface Admin {
  signedIn: SignedIn;
  account: Account;
  host: HostConfig;
  origin: Origin;
  csrf: string;
  language: PageLanguage;
  /** The console's texts in the page's language. */
  T: ConsoleText;
}

/** The language of a console page: the host's languages (the session's host, when known). */
export function consoleLanguage(ctx: AppContext, request: Request, host: HostConfig | null): { language: PageLanguage; T: ConsoleText } {
  const language = languagesOf(ctx, host).choose(request);
  return { language, T: consoleText(language.m) };
}

export function seeOther(from: string, to: string, query = ""): Response {
  return new Response(null, { status: 303, headers: { Location: relativePath(from, to) + query, "Cache-Control": "no-store" } });
}

export interface ConsolePageOptions {
  paths: ConsolePaths;
  path: string;
  title: string;
  body: RawHtml;
  admin: Admin | null;
  language: PageLanguage;
  status?: number;
  notice?: { kind: FlashKind; text: string } | null;
  headers?: Record<string, string>;
}

export function consolePage(o: ConsolePageOptions): Response {
  const { paths, path } = o;
  const M = consoleText(o.language.m);
  const link = (to: string, label: string) => {
    const current = to === path || (to !== paths.base && path.startsWith(`${to}/`));
    return html`<a href="${relativePath(path, to)}"${current ? html` aria-current="page"` : ""}>${label}</a>`;
  };
  const nav = o.admin
    ? html`<nav class="topnav" aria-label="${M.nav.label}">${link(paths.base, M.nav.dashboard)}${link(paths.map, M.nav.map)}${link(paths.invites, M.nav.invites)}${link(paths.accounts, M.nav.accounts)}${link(paths.keys, M.nav.keys)}${link(paths.audit, M.nav.audit)}${link(paths.outbox, M.nav.outbox)}
<span class="who">${o.admin.account.username}@${o.admin.host.name}</span>${postButton({ action: relativePath(path, paths.logout), csrf: o.admin.csrf, label: M.nav.signOut, kind: "ghost", small: true })}</nav>`
    : null;
  const body = html`${o.notice ? flash(o.notice.kind, o.notice.text) : ""}${o.body}`;
  const page = renderPage({ title: `${o.title} · ${M.consoleTitle}`, path, brand: o.admin ? `${o.admin.host.name} · ${M.consoleTitle}` : M.consoleTitle, body, nav, wide: true, scripts: [relativePath(path, paths.script)], language: o.language, languageQuery: o.admin ? "?" : null });
  return new Response(page, { status: o.status ?? 200, headers: formPageHeaders({ "Content-Security-Policy": CONSOLE_CSP, ...languageHeaders(o.language), ...(o.headers ?? {}) }) });
}

export function problemPage(paths: ConsolePaths, path: string, status: number, title: string, text: string, admin: Admin | null, language: PageLanguage): Response {
  const body = html`<div class="status-mark">${ICON_CROSS}</div><h1>${title}</h1><p class="lead">${text}</p>`;
  return consolePage({ paths, path, title, body, admin, status, language });
}

/** A refusal in the admin's language. */
export function adminProblem(paths: ConsolePaths, path: string, status: number, admin: Admin, title: string, text: string): Response {
  return problemPage(paths, path, status, title, text, admin, admin.language);
}

/** Whether the client's address may reach the console at all ([server] admin_allow; empty: everyone). */
export function addressGate(ctx: AppContext): (request: Request) => boolean {
  if (ctx.config.server.adminAllow.length === 0) return () => true;
  const allowed = new AddressMatcher(ctx.config.server.adminAllow);
  return (request) => {
    const ip = clientIp(request);
    return allowed.matches(ip ? parseIp(ip) : null);
  };
}

/** The admin of a request, or the answer that refuses it: 303 to sign-in, or 403 (no TOTP this session, not an admin). */
export async function requireAdmin(ctx: AppContext, request: Request, paths: ConsolePaths, path: string): Promise<Admin | Response> {
  const signedIn = await currentSession(ctx, request);
  if (!signedIn) return seeOther(path, paths.login);
  const { language, T } = consoleLanguage(ctx, request, signedIn.host);
  const account = findAccount(ctx, signedIn.host.name, signedIn.session.username);
  if (!account || !isAdmin(account)) return problemPage(paths, path, 403, T.refused.notAdminTitle, T.refused.notAdmin, null, language);
  if (signedIn.session.secondFactorAt === null) return problemPage(paths, path, 403, T.refused.noTotpTitle, T.refused.noTotp, null, language);
  const origin = requestOrigin(request, "web", `account/${account.username}@${signedIn.host.name}`);
  return { signedIn, account, host: signedIn.host, origin, csrf: signedIn.csrf, language, T };
}

/** The console's list options: `group` and `role` of an invite, `scope` of a key. */
const LIST_FIELDS = ["group", "role", "scope"];

/** An admin's POST: the admin check, then Origin (before the body is read), then the session's csrf token. */
export async function readAdminPost(ctx: AppContext, request: Request, paths: ConsolePaths, path: string): Promise<{ admin: Admin; fields: FormFields } | Response> {
  const signedIn = await currentSession(ctx, request);
  if (!signedIn && !originOfAnyHost(ctx, request)) {
    const { language, T } = consoleLanguage(ctx, request, null);
    return problemPage(paths, path, 403, T.refused.crossOriginTitle, T.refused.crossOrigin, null, language);
  }
  const admin = await requireAdmin(ctx, request, paths, path);
  if (admin instanceof Response) return admin;
  const M = admin.T;
  if (!originMatches(request, admin.host)) return adminProblem(paths, path, 403, admin, M.refused.crossOriginTitle, M.refused.crossOrigin);
  let fields: FormFields;
  try {
    fields = await readFormFields(request, LIST_FIELDS);
  } catch (e) {
    if (!(e instanceof FormError)) throw e;
    return adminProblem(paths, path, e.status, admin, M.refused.unreadableTitle, admin.language.m.text(FORM_PROBLEM_TEXT[e.problem], { field: e.field ?? "" }));
  }
  if (checkSignedInPost(request, admin.signedIn, fields.single) !== "ok") return adminProblem(paths, path, 403, admin, M.refused.staleTitle, M.refused.stale);
  return { admin, fields };
}

/**
 * Destructive actions ask again: the first POST (without confirm=yes) answers with this page, whose form repeats the
 * fields with confirm=yes and the csrf token; only that second POST acts.
 */
export function confirmPage(paths: ConsolePaths, path: string, admin: Admin, question: string, fields: Record<string, string>, back: string): Response {
  const M = admin.T;
  const body = html`<h1>${M.confirm.title}</h1><p class="lead">${question}</p>
<form method="post" action="${relativePath(path, path)}">${csrfField(admin.csrf)}${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}<input type="hidden" name="confirm" value="yes">
<div class="actions"><button class="btn danger small" type="submit">${M.confirm.yes}</button><a class="btn ghost small" href="${relativePath(path, back)}">${M.confirm.cancel}</a></div></form>`;
  return consolePage({ paths, path, title: M.confirm.title, body, admin, language: admin.language });
}

/** A small select box with a label. */
export function select(o: { id: string; name: string; label: string; options: [string, string][]; value?: string | null }): RawHtml {
  return html`<div class="field"><label for="${o.id}">${o.label}</label><select id="${o.id}" name="${o.name}">${o.options.map(
    ([v, l]) => html`<option value="${v}"${v === (o.value ?? "") ? html` selected` : ""}>${l}</option>`,
  )}</select></div>`;
}

/** Older/newest links for keyset paging, keeping the current filters. */
export function pager(M: ConsoleText, path: string, params: URLSearchParams, next: string | null, cursorName = "after"): RawHtml | "" {
  const links: RawHtml[] = [];
  if (params.get(cursorName)) {
    const first = new URLSearchParams(params);
    first.delete(cursorName);
    links.push(html`<a class="btn ghost small" href="?${first.toString()}">${M.common.first}</a>`);
  }
  if (next) {
    const more = new URLSearchParams(params);
    more.set(cursorName, next);
    links.push(html`<a class="btn ghost small" href="?${more.toString()}" rel="next">${M.common.next}</a>`);
  }
  return links.length ? html`<div class="actions">${links}</div>` : "";
}

export const params = (request: Request) => new URL(request.url).searchParams;

const regionNames = new Map<string, Intl.DisplayNames>();

/** A country's name in the page's language (Intl.DisplayNames), or its code when Intl does not know it. */
export function countryName(admin: Admin, code: string): string {
  let names = regionNames.get(admin.language.lang);
  if (!names) regionNames.set(admin.language.lang, (names = new Intl.DisplayNames([admin.language.lang], { type: "region", fallback: "code" })));
  try {
    return names.of(code) ?? code;
  } catch {
    return code;
  }
}
