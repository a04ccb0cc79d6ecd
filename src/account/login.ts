import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { requestOrigin } from "../http/request-info.ts";
import { html } from "../lib/html.ts";
import { randomToken } from "../lib/tokens.ts";
import { isAdmin } from "../accounts/roles.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { csrfField, field, formError } from "../web/parts.ts";
import { FormError, readForm } from "../web/form-body.ts";
import { csrfTokenFor, csrfTokenMatches, endSession } from "../sessions/service.ts";
import { resolveSignInName, signIn, type SignInFailure } from "../sessions/signin.ts";
import { clearedLoginCookies, clearedSessionCookies, currentSession, loginCookie, loginSecret, originMatches, originOfAnyHost, sessionCookie } from "../sessions/http.ts";
import { FORM_PROBLEM_TEXT, accountPage, problemPage, readSignedInPost, seeOther, type AccountPaths } from "./frame.ts";
import { languagesOf } from "../web/language.ts";
import type { MessageKey, PageLanguage } from "../i18n/index.ts";

/** GET/POST ACCOUNT_PATH/login (fields `user` and `password`, as password managers expect) and POST ACCOUNT_PATH/logout. */

const FAILURE: Record<SignInFailure, { status: number; text: MessageKey }> = {
  invalid: { status: 401, text: "signin_error_invalid" },
  missing_fields: { status: 400, text: "signin_error_missing" },
  host_needed: { status: 400, text: "signin_error_host_needed" },
  disabled: { status: 403, text: "signin_error_disabled" },
  throttled: { status: 429, text: "signin_error_throttled" },
  busy: { status: 503, text: "signin_error_busy" },
  unavailable: { status: 503, text: "signin_error_unavailable" },
  signin_off: { status: 403, text: "signin_error_off" },
  totp_invalid: { status: 401, text: "signin_error_totp" },
};

const NOTICES: Record<string, MessageKey> = { signed_out: "signin_notice_signed_out", signed_out_everywhere: "signin_notice_signed_out_everywhere", deleted: "signin_notice_deleted" };

export function loginPages(ctx: AppContext, paths: AccountPaths) {
  const hosts = Object.values(ctx.config.hosts);
  const onlyHost = hosts.length === 1 ? hosts[0]! : null;
  const path = paths.login;

  // The sign-in page belongs to the only host when there is one, else to no host: its languages follow from that.
  const languageOf = (request: Request) => languagesOf(ctx, onlyHost).choose(request);

  const form = (o: { language: PageLanguage; secret: string; typedUser?: string; error?: MessageKey | null; totpError?: MessageKey | null; status?: number; cookies?: string[]; retryAfterMs?: number; notice?: MessageKey | null }) => {
    const { m } = o.language;
    const user = (o.typedUser ?? "").replace(/[\x00-\x1f\x7f]/g, "").slice(0, 256);
    const action = `${relativePath(path, path)}${o.language.source === "query" ? `?lang=${o.language.lang}` : ""}`;
    const body = html`<span class="pill">${m.html("signin_pill")}</span>
<h1>${m.html("signin_heading")}</h1>
<p class="lead">${onlyHost ? m.html("signin_lead_host", { host: onlyHost.name }) : m.html("signin_lead")}</p>
${formError(o.error ? m.html(o.error) : null)}
<form method="post" action="${action}" accept-charset="utf-8">
${csrfField(csrfTokenFor(o.secret))}
${field({ id: "user", name: "user", label: m.text(onlyHost ? "signin_user_host" : "signin_user"), value: user, required: true, autofocus: !user, autocomplete: "username", verbatim: true, maxlength: 1100, dir: "ltr", hint: onlyHost ? m.html("signin_user_hint_host", { host: onlyHost.name }) : m.html("signin_user_hint") })}
${field({ id: "password", name: "password", label: m.text("form_password"), type: "password", required: true, maxlength: 1024, autocomplete: "current-password", autofocus: !!user })}
${field({ id: "totp", name: "totp", label: m.text("signin_totp_label"), maxlength: 12, autocomplete: "one-time-code", verbatim: true, inputmode: "numeric", dir: "ltr", hint: m.html("signin_totp_hint"), error: o.totpError ? m.text(o.totpError) : null })}
<button class="btn" type="submit">${m.html("signin_submit")}</button>
</form>`;
    const notice = o.notice ? { kind: "ok" as const, text: m.html(o.notice) } : null;
    const res = accountPage({ ctx, paths, path, title: m.text("signin_heading"), body, signedIn: null, host: onlyHost, status: o.status, notice, language: o.language, languageQuery: "?" });
    for (const c of o.cookies ?? []) res.headers.append("Set-Cookie", c);
    if (o.retryAfterMs !== undefined) res.headers.set("Retry-After", String(Math.max(1, Math.ceil(o.retryAfterMs / 1000))));
    return res;
  };

  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    if (await currentSession(ctx, request)) return seeOther(path, paths.base);
    // The form's anti-forgery token belongs to a cookie of its own: there is no session to tie it to yet.
    const existing = loginSecret(request);
    const secret = existing && /^[A-Za-z0-9_-]{22}$/.test(existing) ? existing : randomToken(16);
    const done = new URL(request.url).searchParams.get("done") ?? "";
    const notice = Object.hasOwn(NOTICES, done) ? NOTICES[done]! : null;
    return form({ language: languageOf(request), secret, cookies: secret === existing ? [] : [loginCookie(ctx, secret)], notice });
  };

  const submit = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const language = languageOf(request);
    const { m } = language;
    const refuse = () => problemPage({ ctx, paths, path, status: 403, title: m.text("problem_cross_site_title"), text: m.html("signin_cross_site_text"), host: onlyHost, language });
    if (!originOfAnyHost(ctx, request)) return refuse();
    let fields: Map<string, string>;
    try {
      fields = await readForm(request);
    } catch (e) {
      if (!(e instanceof FormError)) throw e;
      return problemPage({ ctx, paths, path, status: e.status, title: m.text("problem_unreadable_title"), text: m.html(FORM_PROBLEM_TEXT[e.problem], { field: e.field ?? "" }), host: onlyHost, language });
    }
    const secret = loginSecret(request);
    if (!secret || !csrfTokenMatches(secret, fields.get("csrf"))) {
      return problemPage({ ctx, paths, path, status: 403, title: m.text("signin_expired_title"), text: m.html("signin_expired_text"), host: onlyHost, language });
    }
    const typedUser = fields.get("user") ?? "";
    // A form served for one host may not sign in to another: the Origin must be the named host's own.
    const named = resolveSignInName(ctx, typedUser).host;
    if (named && !originMatches(request, named)) return refuse();
    const origin = requestOrigin(request, "web", null);
    const result = await signIn(ctx, origin, { user: typedUser, password: fields.get("password") ?? "", totp: fields.get("totp") ?? "" });
    if (result.ok) {
      // A new session id at every sign-in, so a cookie planted before it is worth nothing. An admin who passed TOTP
      // goes on to the console; everyone else to their account page.
      const to = result.session.secondFactorAt !== null && isAdmin(result.account) ? ctx.config.server.adminPath : paths.base;
      return seeOther(path, to, "", [sessionCookie(ctx, result.host, result.secret), ...clearedLoginCookies()]);
    }
    const f = FAILURE[result.reason];
    return form({ language, secret, typedUser, error: f.text, totpError: result.reason === "totp_invalid" ? "signin_totp_error" : null, status: f.status, retryAfterMs: result.retryAfterMs });
  };

  /** Sign-out of this browser's session. Without a session there is nothing to end: back to the sign-in page. */
  const logout = async ({ request }: { request: Request }) => {
    const post = await readSignedInPost(ctx, request, paths, paths.logout);
    if (post instanceof Response) return post;
    const { session } = post.signedIn;
    await endSession(ctx, requestOrigin(request, "web", `account/${session.username}@${session.host}`), session.host, session.username, session.id);
    return seeOther(paths.logout, paths.login, "?done=signed_out", clearedSessionCookies());
  };

  return new Elysia({ name: "account-login" }).get(path, show).post(path, submit, { parse: "none" }).post(paths.logout, logout, { parse: "none" });
}
