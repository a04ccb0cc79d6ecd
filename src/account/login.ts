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
import { prepareSignIn, resolveSignInName, signIn, type SignInFailure } from "../sessions/signin.ts";
import { clearedLoginCookies, clearedSessionCookies, currentSession, loginCookie, loginSecret, originMatches, originOfAnyHost, sessionCookie } from "../sessions/http.ts";
import { CROSS_ORIGIN_TEXT, accountPage, problemPage, readSignedInPost, seeOther, type AccountPaths } from "./frame.ts";

/** GET/POST ACCOUNT_PATH/login (fields `user` and `password`, as password managers expect) and POST ACCOUNT_PATH/logout. */

const FAILURE: Record<SignInFailure, { status: number; text: string }> = {
  invalid: { status: 401, text: "That address and password don't match. Check both and try again." },
  missing_fields: { status: 400, text: "Please type your address and your password." },
  host_needed: { status: 400, text: "Please type your whole address, like name@example.org." },
  disabled: { status: 403, text: "This account is disabled. Ask the people who run this server." },
  throttled: { status: 429, text: "Too many sign-in attempts. Please wait a while and try again." },
  busy: { status: 503, text: "The server is very busy right now. Please try again in a few seconds." },
  unavailable: { status: 503, text: "We can't check your password right now. Please try again in a moment." },
  signin_off: { status: 403, text: "Signing in to this page isn't available for this server." },
  totp_invalid: { status: 401, text: "The code from your authenticator app is missing, wrong or already used. Type the current code and try again." },
};

export function loginPages(ctx: AppContext, paths: AccountPaths) {
  prepareSignIn(ctx);
  const hosts = Object.values(ctx.config.hosts);
  const onlyHost = hosts.length === 1 ? hosts[0]! : null;
  const path = paths.login;

  const form = (o: { secret: string; typedUser?: string; error?: string | null; totpError?: string | null; status?: number; cookies?: string[]; retryAfterMs?: number; notice?: string }) => {
    const user = (o.typedUser ?? "").replace(/[\x00-\x1f\x7f]/g, "").slice(0, 256);
    const body = html`<span class="pill">Account</span>
<h1>Sign in</h1>
<p class="lead">${onlyHost ? html`Sign in with your chat address on <span class="addr">${onlyHost.name}</span> and its password.` : "Sign in with your chat address and its password."}</p>
${formError(o.error)}
<form method="post" action="${relativePath(path, path)}" accept-charset="utf-8">
${csrfField(csrfTokenFor(o.secret))}
${field({ id: "user", name: "user", label: onlyHost ? "Username or address" : "Address", value: user, required: true, autofocus: !user, autocomplete: "username", verbatim: true, maxlength: 1100, hint: onlyHost ? `Like alice or alice@${onlyHost.name}` : "Like alice@example.org" })}
${field({ id: "password", name: "password", label: "Password", type: "password", required: true, maxlength: 1024, autocomplete: "current-password", autofocus: !!user })}
${field({ id: "totp", name: "totp", label: "Authentication code (if you use one)", maxlength: 12, autocomplete: "one-time-code", verbatim: true, inputmode: "numeric", hint: "The 6 digits from your authenticator app. Admins need it; everyone else can leave it empty.", error: o.totpError ?? null })}
<button class="btn" type="submit">Sign in</button>
</form>`;
    const notice = o.notice ? { kind: "ok" as const, text: o.notice } : null;
    const res = accountPage({ ctx, paths, path, title: "Sign in", body, signedIn: null, host: onlyHost, status: o.status, notice });
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
    const done = new URL(request.url).searchParams.get("done");
    const notice = { signed_out: "You're signed out.", signed_out_everywhere: "You're signed out on every device.", deleted: "Your account is deleted." }[done ?? ""];
    return form({ secret, cookies: secret === existing ? [] : [loginCookie(ctx, secret)], notice });
  };

  const submit = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const refuse = () => problemPage({ ctx, paths, path, status: 403, title: "This form was sent from another site", text: CROSS_ORIGIN_TEXT, host: onlyHost });
    if (!originOfAnyHost(ctx, request)) return refuse();
    let fields: Map<string, string>;
    try {
      fields = await readForm(request);
    } catch (e) {
      if (!(e instanceof FormError)) throw e;
      return problemPage({ ctx, paths, path, status: e.status, title: "The form could not be read", text: `${e.message}. Go back and try again.`, host: onlyHost });
    }
    const secret = loginSecret(request);
    if (!secret || !csrfTokenMatches(secret, fields.get("csrf"))) {
      return problemPage({ ctx, paths, path, status: 403, title: "This form has expired", text: "Open the sign-in page again and sign in from there. Nothing was changed.", host: onlyHost });
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
    return form({ secret, typedUser, error: f.text, totpError: result.reason === "totp_invalid" ? "Type the current 6-digit code." : null, status: f.status, retryAfterMs: result.retryAfterMs });
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
