import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { getHost, type HostConfig } from "../config/index.ts";
import { findInviteByToken, inviteStatus, type Invite } from "../invites/service.ts";
import { requestOrigin } from "../http/request-info.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { ICON_CHECK, ICON_CROSS, formPageHeaders, pageHeaders, relativePath, renderPage, trailingSlashRedirect } from "../web/layout.ts";
import { field, formError } from "../web/parts.ts";
import { appsFor, langSuffix, onlyHostOf, safeToken } from "../pages/routes.ts";
import { languagesOf } from "../web/language.ts";
import { renderAppList } from "../pages/apps.ts";
import { FormError, readForm, type FormProblem } from "../web/form-body.ts";
import { languageHeaders, type MessageKey, type Messages, type PageLanguage } from "../i18n/index.ts";
import { retryAfterSeconds } from "../limits/rate.ts";
import { isDeadInvite, recordRefusal, registerWithInvite, resetPasswordWithInvite, type RefusalReason } from "./service.ts";

/**
 * Characters a username may not hold, as shown in the hint and the refusal (the same in every language). Isolated
 * left to right (U+2066 … U+2069), so an Arabic sentence does not reorder or mirror them.
 */
const FORBIDDEN_CHARS = `\u2066@ / : " ' & < >\u2069`;

/** What the person sees for each refusal that re-renders the form. */
function refusalMessage(m: Messages, reason: RefusalReason, host: HostConfig, invite: Invite | null): RawHtml {
  switch (reason) {
    case "missing_username":
      return m.html("error_missing_username");
    case "missing_password":
      return m.html("error_missing_password");
    case "username_invalid":
      return m.html("error_username_invalid", { chars: FORBIDDEN_CHARS });
    case "username_too_short":
      return m.html("error_username_too_short", { min: host.usernameMinLength });
    case "username_too_long":
      return m.html("error_username_too_long", { max: host.usernameMaxLength });
    case "username_invisible":
      return m.html("error_username_invisible");
    case "username_not_canonical":
      return m.html("error_username_not_canonical");
    case "username_mixed_scripts":
      return m.html("error_username_mixed_scripts");
    case "username_reserved":
      return m.html("error_username_reserved");
    case "username_taken":
      return m.html("error_username_taken");
    case "username_not_allowed":
      return invite?.username ? m.html("error_username_not_allowed_bound", { username: invite.username }) : m.html("error_username_not_allowed");
    case "password_too_short":
      return m.html("error_password_too_short", { min: host.passwordMinLength });
    case "password_too_long":
      return m.html("error_password_too_long", { max: 1024 });
    case "password_contains_username":
      return m.html("error_password_contains_username");
    case "password_invalid":
      return m.html("error_password_invalid");
    case "password_mismatch":
      return m.html("error_password_mismatch");
    case "account_missing":
      return m.html("error_account_missing");
    case "wrong_invite_kind":
      return m.html("error_wrong_invite_kind");
    case "invite_busy":
      return m.html("error_invite_busy");
    case "provision_failed":
      return m.html(invite?.kind === "reset" ? "error_provision_failed_reset" : "error_provision_failed");
    case "server_busy":
      return m.html("error_server_busy");
    default:
      return m.html("error_other");
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

/** The register form page asks for Referrer-Policy same-origin so a browser's POST carries a real Origin header. */
const FORM_HEADERS = formPageHeaders();

interface FormView {
  path: string;
  invite: Invite;
  host: HostConfig;
  token: string;
  typedUser?: string;
  error?: RawHtml | null;
  language: PageLanguage;
}

const FORM_PROBLEM_TEXT: Record<FormProblem, MessageKey> = {
  too_large: "problem_body_too_large",
  unreadable: "problem_body_unreadable",
  content_type: "problem_content_type",
  malformed: "problem_malformed",
  file_upload: "problem_file_upload",
  too_many_fields: "problem_too_many_fields",
  repeated_field: "problem_repeated_field",
};

function formPage(v: FormView, status = 200): Response {
  const { invite, host, language } = v;
  const { m } = language;
  // Post back to this path, without the ?t= query; a language chosen by link goes along.
  const action = `${relativePath(v.path, v.path)}${language.source === "query" ? `?lang=${language.lang}` : ""}`;
  const landing = `${relativePath(v.path, host.invitePath)}?${v.token}${langSuffix(language)}`;
  const reset = invite.kind === "reset";
  const fixedUser = invite.username;
  const address = fixedUser ? `${fixedUser}@${host.name}` : "";
  const shownUser = fixedUser ?? (v.typedUser ?? "").replace(/[\x00-\x1f\x7f]/g, "").slice(0, 256);
  const title = reset ? m.text("reset_heading") : fixedUser ? m.text("form_title_bound", { address }) : m.text("form_title", { host: host.name });
  const body = html`<span class="pill${reset ? " warn" : ""}">${m.html(reset ? "reset_pill" : "form_pill")}</span>
<h1>${m.html(reset ? "reset_heading" : "form_heading")}</h1>
<p class="lead">${reset ? m.html("form_lead_reset", { address }) : fixedUser ? m.html("form_lead_bound", { address }) : m.html("form_lead")}</p>
${formError(v.error)}
<form method="post" action="${action}" accept-charset="utf-8">
<input type="hidden" name="token" value="${v.token}">
${field({
    id: "user",
    name: "user",
    label: m.text("form_username"),
    value: shownUser,
    readonly: !!fixedUser,
    required: !fixedUser,
    autofocus: !fixedUser,
    autocomplete: "username",
    verbatim: true,
    minlength: host.usernameMinLength,
    maxlength: host.usernameMaxLength,
    suffix: `@${host.name}`,
    // An address reads name@host in every language: the box stays left to right in Arabic too.
    dir: "ltr",
    hint: fixedUser ? null : m.html("form_username_hint", { min: host.usernameMinLength, max: host.usernameMaxLength, chars: FORBIDDEN_CHARS }),
  })}
${field({
    id: "password",
    name: "password",
    label: m.text(reset ? "form_new_password" : "form_password"),
    type: "password",
    required: true,
    minlength: host.passwordMinLength,
    maxlength: 1024,
    autocomplete: "new-password",
    autofocus: !!fixedUser,
    hint: m.html("form_password_hint", { min: host.passwordMinLength }),
  })}
${field({ id: "password_confirm", name: "password_confirm", label: m.text("form_password_confirm"), type: "password", required: true, minlength: host.passwordMinLength, maxlength: 1024, autocomplete: "new-password" })}
<button class="btn" type="submit">${m.html(reset ? "form_submit_reset" : "form_submit")}</button>
</form>
<div class="divider">${m.html("form_or")}</div>
<a class="btn ghost" href="${landing}">${m.html("form_back")}</a>`;
  const languageQuery = `?t=${safeToken(v.token)}&`;
  return new Response(renderPage({ title, path: v.path, brand: host.name, site: host, body, narrow: true, language, languageQuery }), {
    status,
    headers: { ...FORM_HEADERS, ...languageHeaders(language) },
  });
}

/**
 * Without a provider the account exists in invited alone: no app can sign in with it, so the page does not say so.
 * It points to the account page instead, where the member can sign in (when the host's sign-in is on).
 */
function localNext(path: string, host: HostConfig, accountPath: string, m: PageLanguage["m"]): RawHtml | string {
  const signIn = host.signin.type === "none" ? "" : html`<a class="btn" href="${relativePath(path, `${accountPath}/login`)}">${m.html("signin_submit")}</a>`;
  return html`<h2 class="more">${m.html("success_local_title")}</h2><p class="muted">${m.html("success_local_text")}</p>${signIn}`;
}

function successPage(path: string, host: HostConfig, username: string, reset: boolean, userAgent: string | null, language: PageLanguage, accountPath: string): Response {
  const { m } = language;
  const address = `${username}@${host.name}`;
  const apps = appsFor(host);
  const body = html`<div class="success-mark">${ICON_CHECK}</div>
<span class="pill ok">${m.html(reset ? "success_title_reset" : "success_title")}</span>
<h1>${m.html(reset ? "success_heading_reset" : "success_heading")}</h1>
<p class="lead">${m.html(reset ? "success_lead_reset" : "success_lead")}</p>
<code class="big-addr" dir="ltr">${address}</code>
<p class="muted small">${m.html("success_safety")}</p>
${
    reset ? "" : host.provision.type === "none" ? localNext(path, host, accountPath, m) : apps.length > 0 ? html`<h2 class="more">${m.html("success_next_title")}</h2><p class="muted">${m.html("success_next_text")}</p>${renderAppList(apps, relativePath(path, "/assets/"), userAgent, m)}` : ""
  }`;
  return new Response(renderPage({ title: m.text(reset ? "success_title_reset" : "success_title"), path, brand: host.name, site: host, body, narrow: true, language }), {
    status: 200,
    headers: pageHeaders(languageHeaders(language)),
  });
}

function problemPage(path: string, brand: string | null, status: number, language: PageLanguage, title: MessageKey, text: RawHtml): Response {
  const { m } = language;
  const body = html`<div class="status-mark">${ICON_CROSS}</div><h1>${m.html(title)}</h1><p class="lead">${text}</p>`;
  return new Response(renderPage({ title: m.text(title), path, brand, body, narrow: true, language }), { status, headers: pageHeaders(languageHeaders(language)) });
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
  const toLanding = (path: string, invite: Invite | null, token: string, request: Request) => {
    const host = (invite && getHost(ctx.config, invite.host)) || Object.values(ctx.config.hosts).find((h) => h.registerPath === path)!;
    // A language the link chose goes along to the page that explains the dead link.
    const lang = languagesOf(ctx, host).choose(request);
    const suffix = lang.source === "query" ? `&lang=${lang.lang}` : "";
    return new Response(null, { status: 303, headers: { Location: `${relativePath(path, host.invitePath)}?${safeToken(token)}${suffix}`, "Cache-Control": "no-store" } });
  };

  const show = (path: string) => ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const tokens = new URL(request.url).searchParams.getAll("t");
    const token = tokens.length === 1 ? tokens[0]! : "";
    const invite = findInviteByToken(ctx, token);
    const host = invite ? getHost(ctx.config, invite.host) : null;
    if (!invite || !host || inviteStatus(invite) !== "active") return toLanding(path, invite, token, request);
    return formPage({ path, invite, host, token, language: languagesOf(ctx, host).choose(request) });
  };

  const submit = (path: string) => async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const brand = Object.values(ctx.config.hosts).find((h) => h.registerPath === path)?.name ?? null;
    // Before the token is read, the page belongs to the path's only host, if it has one.
    const pathLanguage = () => languagesOf(ctx, onlyHostOf(ctx, path, "registerPath")).choose(request);
    if (crossSite(request, allowedOrigins)) {
      await recordRefusal(ctx, requestOrigin(request, "web", null), { reason: "cross_site", host: brand ?? "" });
      const language = pathLanguage();
      return problemPage(path, brand, 403, language, "problem_cross_site_title", language.m.html("problem_cross_site_text"));
    }
    let fields: Map<string, string>;
    try {
      fields = await readForm(request);
    } catch (e) {
      if (!(e instanceof FormError)) throw e;
      await recordRefusal(ctx, requestOrigin(request, "web", null), { reason: "malformed_request", host: brand ?? "" });
      const title = e.status === 413 ? "problem_too_large_title" : e.status === 415 ? "problem_unsupported_title" : "problem_unreadable_title";
      const language = pathLanguage();
      return problemPage(path, brand, e.status, language, title, language.m.html(FORM_PROBLEM_TEXT[e.problem], { field: e.field ?? "" }));
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
    const hostLanguage = (host: HostConfig) => languagesOf(ctx, host).choose(request);
    if (result.ok) return successPage(path, result.host, result.username, result.kind === "reset", request.headers.get("user-agent"), hostLanguage(result.host), ctx.config.server.accountPath);
    if (result.reason === "throttled" && result.host) {
      const wait = result.retryAfterMs ?? 60_000;
      const language = hostLanguage(result.host);
      const text = language.m.html("problem_throttled_text", { when: language.m.relativeUp(wait) });
      const page = problemPage(path, result.host.name, 429, language, "problem_throttled_title", text);
      page.headers.set("Retry-After", retryAfterSeconds(wait));
      return page;
    }
    if (isDeadInvite(result.reason) || !result.invite || !result.host) return toLanding(path, result.invite ?? invite, token, request);
    const language = hostLanguage(result.host);
    const error = refusalMessage(language.m, result.reason, result.host, result.invite);
    const page = formPage({ path, invite: result.invite, host: result.host, token, typedUser: username ?? "", error, language }, REFUSAL_STATUS[result.reason] ?? 400);
    if (result.reason === "server_busy") page.headers.set("Retry-After", "5");
    return page;
  };

  const notAllowed = () => new Response("method not allowed\n", { status: 405, headers: { Allow: "GET, POST", "Content-Type": "text/plain; charset=utf-8" } });
  return paths.reduce(
    (app, path) => app.get(path, show(path)).post(path, submit(path), { parse: "none" }).all(path, notAllowed),
    new Elysia({ name: "registration" }),
  );
}
