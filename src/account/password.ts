import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { requestOrigin } from "../http/request-info.ts";
import { html } from "../lib/html.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { csrfField, field, formError } from "../web/parts.ts";
import { changePassword, deleteOwnAccount, passwordChangeable, type ChangePasswordRefusal, type DeleteRefusal } from "../accounts/password.ts";
import { clearedSessionCookies, type SignedIn } from "../sessions/http.ts";
import { accountPage, readSignedInPost, requireSignedIn, seeOther, type AccountPaths } from "./frame.ts";
import { languagesOf } from "../web/language.ts";
import type { MessageKey, PageLanguage } from "../i18n/index.ts";

/** ACCOUNT_PATH/password (change it: the current one is asked again) and ACCOUNT_PATH/delete (the account, for good). */

function changeMessage(reason: ChangePasswordRefusal): { status: number; text: MessageKey; field?: "current" | "next" | "confirm" } {
  switch (reason) {
    case "wrong_password":
      return { status: 403, text: "password_error_wrong", field: "current" };
    case "missing":
      return { status: 400, text: "password_error_missing" };
    case "mismatch":
      return { status: 400, text: "password_error_mismatch", field: "confirm" };
    case "too_short":
      return { status: 400, text: "password_error_too_short", field: "next" };
    case "too_long":
      return { status: 400, text: "error_password_too_long", field: "next" };
    case "contains_username":
      return { status: 400, text: "password_error_contains_username", field: "next" };
    case "forbidden_characters":
      return { status: 400, text: "error_password_invalid", field: "next" };
    case "not_here":
      return { status: 409, text: "password_not_here" };
    case "busy":
      return { status: 503, text: "password_error_busy" };
    case "unavailable":
    case "provision_failed":
      return { status: 503, text: "password_error_unavailable" };
  }
}

const DELETE_MESSAGES: Record<DeleteRefusal, { status: number; text: MessageKey }> = {
  missing: { status: 400, text: "delete_error_missing" },
  wrong_password: { status: 403, text: "delete_error_wrong" },
  downstream_failed: { status: 503, text: "delete_error_downstream" },
  busy: { status: 503, text: "delete_error_busy" },
  unavailable: { status: 503, text: "delete_error_unavailable" },
};

export function passwordPages(ctx: AppContext, paths: AccountPaths) {
  const path = paths.password;

  const form = (signedIn: SignedIn, language: PageLanguage, o: { error?: { text: MessageKey; field?: string } | null; status?: number; notMe?: boolean } = {}) => {
    const { host, session, csrf } = signedIn;
    const { m } = language;
    const values = { min: host.passwordMinLength, max: 1024 };
    const err = (f: string) => (o.error?.field === f ? m.text(o.error.text, values) : null);
    const body = passwordChangeable(host)
      ? html`<span class="pill">${m.html("account_nav_password")}</span>
<h1>${m.html("password_heading")}</h1>
<p class="lead">${m.html(o.notMe ? "password_lead_not_me" : "password_lead")}</p>
${formError(o.error && !o.error.field ? m.html(o.error.text, values) : null)}
<form method="post" action="${relativePath(path, path)}" accept-charset="utf-8">
${csrfField(csrf)}
<input type="text" name="user" value="${session.username}@${host.name}" autocomplete="username" hidden>
${field({ id: "current", name: "current", label: m.text("password_current"), type: "password", required: true, maxlength: 1024, autocomplete: "current-password", error: err("current"), autofocus: true })}
${field({ id: "next", name: "password", label: m.text("form_new_password"), type: "password", required: true, minlength: host.passwordMinLength, maxlength: 1024, autocomplete: "new-password", error: err("next"), hint: m.html("form_password_hint", { min: host.passwordMinLength }) })}
${field({ id: "confirm", name: "password_confirm", label: m.text("password_confirm"), type: "password", required: true, minlength: host.passwordMinLength, maxlength: 1024, autocomplete: "new-password", error: err("confirm") })}
<button class="btn" type="submit">${m.html("home_change_password")}</button>
</form>`
      : html`<span class="pill">${m.html("account_nav_password")}</span><h1>${m.html("password_heading")}</h1><p class="lead">${m.html("password_not_here")}</p>`;
    return accountPage({ ctx, paths, path, title: m.text("password_heading"), body, signedIn, host, status: o.status, language, languageQuery: "?" });
  };

  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const signedIn = await requireSignedIn(ctx, request, paths, path);
    if (signedIn instanceof Response) return signedIn;
    return form(signedIn, languagesOf(ctx, signedIn.host).choose(request), { notMe: new URL(request.url).searchParams.get("reason") === "not_me" });
  };

  const submit = async ({ request }: { request: Request }) => {
    const post = await readSignedInPost(ctx, request, paths, path);
    if (post instanceof Response) return post;
    const { signedIn, fields } = post;
    const { session, host } = signedIn;
    const result = await changePassword(ctx, requestOrigin(request, "web", `account/${session.username}@${host.name}`), host, session.username, {
      current: fields.get("current") ?? "",
      next: fields.get("password") ?? "",
      confirm: fields.get("password_confirm") ?? null,
      keepSession: session.id,
    });
    if (result.ok) return seeOther(path, paths.base, "?done=password_changed");
    const problem = changeMessage(result.reason);
    const res = form(signedIn, languagesOf(ctx, host).choose(request), { error: { text: problem.text, field: problem.field }, status: problem.status });
    if (problem.status === 503) res.headers.set("Retry-After", "5");
    return res;
  };

  const deletePath = paths.deleteAccount;
  const deleteForm = (signedIn: SignedIn, language: PageLanguage, error: MessageKey | null = null, status = 200) => {
    const { host, session, csrf } = signedIn;
    const { m } = language;
    const address = `${session.username}@${host.name}`;
    const body = html`<span class="pill bad">${m.html("delete_pill")}</span>
<h1>${m.html("delete_heading", { address })}</h1>
<p class="lead">${m.html("delete_lead")}</p>
${formError(error ? m.html(error) : null)}
<form method="post" action="${relativePath(deletePath, deletePath)}" accept-charset="utf-8">
${csrfField(csrf)}
<input type="text" name="user" value="${address}" autocomplete="username" hidden>
${field({ id: "password", name: "password", label: m.text("delete_password_label"), type: "password", required: true, maxlength: 1024, autocomplete: "current-password", autofocus: true })}
<button class="btn danger" type="submit">${m.html("delete_submit")}</button>
</form>`;
    return accountPage({ ctx, paths, path: deletePath, title: m.text("delete_title"), body, signedIn, host, status, language, languageQuery: "?" });
  };

  const showDelete = async ({ request }: { request: Request }) => {
    const signedIn = await requireSignedIn(ctx, request, paths, deletePath);
    if (signedIn instanceof Response) return signedIn;
    return deleteForm(signedIn, languagesOf(ctx, signedIn.host).choose(request));
  };

  const submitDelete = async ({ request }: { request: Request }) => {
    const post = await readSignedInPost(ctx, request, paths, deletePath);
    if (post instanceof Response) return post;
    const { session, host } = post.signedIn;
    const result = await deleteOwnAccount(ctx, requestOrigin(request, "web", `account/${session.username}@${host.name}`), host, session.username, post.fields.get("password") ?? "");
    if (result.ok) return seeOther(deletePath, paths.login, "?done=deleted", clearedSessionCookies());
    const problem = DELETE_MESSAGES[result.reason];
    return deleteForm(post.signedIn, languagesOf(ctx, host).choose(request), problem.text, problem.status);
  };

  return new Elysia({ name: "account-password" })
    .get(path, show)
    .post(path, submit, { parse: "none" })
    .get(deletePath, showDelete)
    .post(deletePath, submitDelete, { parse: "none" });
}
