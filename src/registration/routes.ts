import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { getHost, type HostConfig } from "../config/index.ts";
import { findInviteByToken, inviteStatus, type Invite } from "../invites/service.ts";
import { requestOrigin } from "../http/request-info.ts";
import { html } from "../lib/html.ts";
import { ICON_CHECK, ICON_CROSS, formPageHeaders, pageHeaders, relativePath, renderPage, trailingSlashRedirect } from "../web/layout.ts";
import { field, formError } from "../web/parts.ts";
import { appsFor, safeToken } from "../pages/routes.ts";
import { renderAppList } from "../pages/apps.ts";
import { FormError, readForm } from "../web/form-body.ts";
import { retryAfterSeconds } from "../limits/rate.ts";
import { isDeadInvite, recordRefusal, registerWithInvite, resetPasswordWithInvite, type RefusalReason } from "./service.ts";

/** What the person sees for each refusal that re-renders the form. */
function refusalMessage(reason: RefusalReason, host: HostConfig, invite: Invite | null): string {
  switch (reason) {
    case "missing_username":
      return "Please choose a username.";
    case "missing_password":
      return "Please choose a password.";
    case "username_invalid":
      return `Usernames can't contain spaces, symbols, control characters or any of @ / : " ' & < >, and a right-to-left name must begin and end with a letter.`;
    case "username_too_short":
      return `Usernames need at least ${host.usernameMinLength} characters.`;
    case "username_too_long":
      return `Usernames can be at most ${host.usernameMaxLength} characters long.`;
    case "username_invisible":
      return "That username contains invisible or blank characters (such as joiners, variation selectors or filler characters). Please type it without them.";
    case "username_not_canonical":
      return "That username contains characters that chat servers rewrite (such as ligatures, styled or circled letters). Please use plain letters.";
    case "username_mixed_scripts":
      return "Usernames can't mix writing systems (such as Latin letters with Cyrillic or Greek ones). Please use one.";
    case "username_reserved":
      return "This name is reserved. Please choose another one.";
    case "username_taken":
      return "That username is already in use. Please choose another one.";
    case "username_not_allowed":
      return invite?.username ? `This invite can only be used for the username “${invite.username}”.` : "This invite can't be used for that username.";
    case "password_too_short":
      return `Your password needs at least ${host.passwordMinLength} characters.`;
    case "password_too_long":
      return "That password is too long (at most 1024 characters).";
    case "password_contains_username":
      return "Your password must not contain your username.";
    case "password_invalid":
      return "Passwords can't contain control characters.";
    case "password_mismatch":
      return "The two passwords don't match. Please type them again.";
    case "account_missing":
      return "The account this invite is for no longer exists.";
    case "wrong_invite_kind":
      return "This invite can't be used here.";
    case "invite_busy":
      return "Someone else is using this invite right now. Please try again in a moment.";
    case "provision_failed":
      return invite?.kind === "reset"
        ? "We couldn't set your new password right now. Nothing was changed and your invite still works: please try again in a moment."
        : "We couldn't create your account right now. Nothing was used up and your invite still works: please try again in a moment.";
    case "server_busy":
      return "We're handling a lot of sign-ups right now. Nothing was used up and your invite still works: please try again in a few seconds.";
    default:
      return "This request could not be completed.";
  }
}

const REFUSAL_STATUS: Partial<Record<RefusalReason, number>> = {
  username_taken: 409,
  username_not_allowed: 403,
  account_missing: 410,
  invite_busy: 503,
  provision_failed: 503,
  server_busy: 503,
};

/** "in about 12 minutes": when a throttled person may try again, rounded up to what a person would say. */
function retryWhen(ms: number): string {
  const minutes = Math.ceil(ms / 60_000);
  if (ms < 60_000) return `in ${Math.max(1, Math.ceil(ms / 1000))} seconds`;
  if (minutes < 90) return `in about ${minutes} minute${minutes === 1 ? "" : "s"}`;
  return `in about ${Math.round(minutes / 60)} hours`;
}

/** The register form page asks for Referrer-Policy same-origin so a browser's POST carries a real Origin header. */
const FORM_HEADERS = formPageHeaders();

interface FormView {
  path: string;
  invite: Invite;
  host: HostConfig;
  token: string;
  typedUser?: string;
  error?: string | null;
}

function formPage(v: FormView, status = 200): Response {
  const { invite, host } = v;
  const action = relativePath(v.path, v.path); // post back to this path, without the ?t= query
  const landing = `${relativePath(v.path, host.invitePath)}?${v.token}`;
  const reset = invite.kind === "reset";
  const fixedUser = invite.username;
  const shownUser = fixedUser ?? (v.typedUser ?? "").replace(/[\x00-\x1f\x7f]/g, "").slice(0, 256);
  const title = reset ? "Set a new password" : fixedUser ? `Create ${fixedUser}@${host.name}` : `Create your account on ${host.name}`;
  const body = html`<span class="pill${reset ? " warn" : ""}">${reset ? "Password reset" : "New account"}</span>
<h1>${reset ? "Set a new password" : html`Create your account`}</h1>
<p class="lead">${
    reset
      ? html`Choose a new password for <span class="addr">${fixedUser}@${host.name}</span>.`
      : fixedUser
        ? html`This invite is for <span class="addr">${fixedUser}@${host.name}</span>. Choose a password to finish.`
        : html`Pick a username and a password. You'll use them to sign in from any XMPP app.`
  }</p>
${formError(v.error)}
<form method="post" action="${action}" accept-charset="utf-8">
<input type="hidden" name="token" value="${v.token}">
${field({
    id: "user",
    name: "user",
    label: "Username",
    value: shownUser,
    readonly: !!fixedUser,
    required: !fixedUser,
    autofocus: !fixedUser,
    autocomplete: "username",
    verbatim: true,
    minlength: host.usernameMinLength,
    maxlength: host.usernameMaxLength,
    suffix: `@${host.name}`,
    hint: fixedUser ? null : `${host.usernameMinLength} to ${host.usernameMaxLength} characters, no spaces or @ / : " ' & < >. Upper case becomes lower case.`,
  })}
${field({
    id: "password",
    name: "password",
    label: reset ? "New password" : "Password",
    type: "password",
    required: true,
    minlength: host.passwordMinLength,
    maxlength: 1024,
    autocomplete: "new-password",
    autofocus: !!fixedUser,
    hint: `At least ${host.passwordMinLength} characters, and not containing your username.`,
  })}
${field({ id: "password_confirm", name: "password_confirm", label: "Repeat the password", type: "password", required: true, minlength: host.passwordMinLength, maxlength: 1024, autocomplete: "new-password" })}
<button class="btn" type="submit">${reset ? "Save new password" : "Create account"}</button>
</form>
<div class="divider">or</div>
<a class="btn ghost" href="${landing}">Back to the invite</a>`;
  return new Response(renderPage({ title, path: v.path, brand: host.name, body, narrow: true }), { status, headers: FORM_HEADERS });
}

function successPage(path: string, host: HostConfig, username: string, reset: boolean, userAgent: string | null): Response {
  const address = `${username}@${host.name}`;
  const apps = appsFor(host);
  const body = html`<div class="success-mark">${ICON_CHECK}</div>
<span class="pill ok">${reset ? "Password changed" : "Account created"}</span>
<h1>${reset ? "Your new password is set" : "Welcome! Your account is ready"}</h1>
<p class="lead">${reset ? "Sign in again with your new password. Your address is:" : "This is your new chat address. Sign in with it and the password you just chose:"}</p>
<code class="big-addr">${address}</code>
<p class="muted small">For your safety the password is not shown here. If your browser offers to save it, that's a good idea.</p>
${
    apps.length > 0 && !reset
      ? html`<h2 class="more">Next: sign in from an app</h2><p class="muted">Install one of these apps and choose “I already have an account”.</p>${renderAppList(apps, relativePath(path, "/assets/"), userAgent)}`
      : ""
  }`;
  return new Response(renderPage({ title: reset ? "Password changed" : "Account created", path, brand: host.name, body, narrow: true }), {
    status: 200,
    headers: pageHeaders(),
  });
}

function problemPage(path: string, brand: string | null, status: number, title: string, text: string): Response {
  const body = html`<div class="status-mark">${ICON_CROSS}</div><h1>${title}</h1><p class="lead">${text}</p>`;
  return new Response(renderPage({ title, path, brand, body, narrow: true }), { status, headers: pageHeaders() });
}

/**
 * A browser says where a form came from with Sec-Fetch-Site (trusted: the browser sets it) or Origin. Only a post
 * from this origin is accepted. With neither header (a script posting user/password/token itself) the token in the
 * form is what authorises the request.
 */
export function crossSite(request: Request, allowedOrigins: ReadonlySet<string>): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null) return site !== "same-origin" && site !== "none";
  const origin = request.headers.get("origin");
  if (origin === null) return false;
  if (allowedOrigins.has(origin)) return false;
  try {
    return origin !== new URL(request.url).origin;
  } catch {
    return true;
  }
}

/** Web registration at each host's register_path: GET `?t=TOKEN` shows the form, POST redeems the invite. */
export function registrationPages(ctx: AppContext) {
  const paths = [...new Set(Object.values(ctx.config.hosts).map((h) => h.registerPath))];
  const allowedOrigins = new Set(Object.values(ctx.config.hosts).map((h) => new URL(h.publicUrl).origin));

  /** A dead token goes to its landing page, which says what is wrong with it. */
  const toLanding = (path: string, invite: Invite | null, token: string) => {
    const host = (invite && getHost(ctx.config, invite.host)) || Object.values(ctx.config.hosts).find((h) => h.registerPath === path)!;
    return new Response(null, { status: 303, headers: { Location: `${relativePath(path, host.invitePath)}?${safeToken(token)}`, "Cache-Control": "no-store" } });
  };

  const show = (path: string) => ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const tokens = new URL(request.url).searchParams.getAll("t");
    const token = tokens.length === 1 ? tokens[0]! : "";
    const invite = findInviteByToken(ctx, token);
    const host = invite ? getHost(ctx.config, invite.host) : null;
    if (!invite || !host || inviteStatus(invite) !== "active") return toLanding(path, invite, token);
    return formPage({ path, invite, host, token });
  };

  const submit = (path: string) => async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const brand = Object.values(ctx.config.hosts).find((h) => h.registerPath === path)?.name ?? null;
    if (crossSite(request, allowedOrigins)) {
      await recordRefusal(ctx, requestOrigin(request, "web", null), { reason: "cross_site", host: brand ?? "" });
      return problemPage(path, brand, 403, "This form was sent from another site", "For your safety, accounts can only be created from this site's own form. Open your invite link again and use the form there.");
    }
    let fields: Map<string, string>;
    try {
      fields = await readForm(request);
    } catch (e) {
      if (!(e instanceof FormError)) throw e;
      await recordRefusal(ctx, requestOrigin(request, "web", null), { reason: "malformed_request", host: brand ?? "" });
      const title = e.status === 413 ? "That was too much data" : e.status === 415 ? "Unsupported form encoding" : "The form could not be read";
      return problemPage(path, brand, e.status, title, `${e.message}. Go back and try again.`);
    }
    const queryToken = new URL(request.url).searchParams.get("t");
    const token = fields.get("token") ?? queryToken ?? "";
    const username = fields.get("user") ?? null;
    const password = fields.get("password") ?? "";
    const passwordConfirm = fields.get("password_confirm") ?? null;
    const origin = requestOrigin(request, "web", null);
    const invite = findInviteByToken(ctx, token);
    const redeem = invite?.kind === "reset" ? resetPasswordWithInvite : registerWithInvite;
    const result = await redeem(ctx, origin, { token, username, password, passwordConfirm });
    if (result.ok) return successPage(path, result.host, result.username, result.kind === "reset", request.headers.get("user-agent"));
    if (result.reason === "throttled" && result.host) {
      const wait = result.retryAfterMs ?? 60_000;
      const page = problemPage(
        path,
        result.host.name,
        429,
        "Too many sign-up attempts",
        `There have been too many sign-up attempts from your network. Nothing was used up and your invite still works: please try again ${retryWhen(wait)}.`,
      );
      page.headers.set("Retry-After", retryAfterSeconds(wait));
      return page;
    }
    if (isDeadInvite(result.reason) || !result.invite || !result.host) return toLanding(path, result.invite ?? invite, token);
    const error = refusalMessage(result.reason, result.host, result.invite);
    const page = formPage({ path, invite: result.invite, host: result.host, token, typedUser: username ?? "", error }, REFUSAL_STATUS[result.reason] ?? 400);
    if (result.reason === "server_busy") page.headers.set("Retry-After", "5");
    return page;
  };

  const notAllowed = () => new Response("method not allowed\n", { status: 405, headers: { Allow: "GET, POST", "Content-Type": "text/plain; charset=utf-8" } });
  return paths.reduce(
    (app, path) => app.get(path, show(path)).post(path, submit(path), { parse: "none" }).all(path, notAllowed),
    new Elysia({ name: "registration" }),
  );
}
