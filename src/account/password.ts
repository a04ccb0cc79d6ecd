import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { requestOrigin } from "../http/request-info.ts";
import { html } from "../lib/html.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { csrfField, field, formError } from "../web/parts.ts";
import { changePassword, deleteOwnAccount, passwordChangeable, type ChangePasswordRefusal, type DeleteRefusal } from "../accounts/password.ts";
import { clearedSessionCookies, type SignedIn } from "../sessions/http.ts";
import { accountPage, readSignedInPost, requireSignedIn, seeOther, type AccountPaths } from "./frame.ts";

/** ACCOUNT_PATH/password (change it: the current one is asked again) and ACCOUNT_PATH/delete (the account, for good). */

function changeMessage(reason: ChangePasswordRefusal, host: HostConfig): { status: number; text: string; field?: "current" | "next" | "confirm" } {
  switch (reason) {
    case "wrong_password":
      return { status: 403, text: "Your current password is not right.", field: "current" };
    case "missing":
      return { status: 400, text: "Please fill in your current and your new password." };
    case "mismatch":
      return { status: 400, text: "The two new passwords don't match.", field: "confirm" };
    case "too_short":
      return { status: 400, text: `Your new password needs at least ${host.passwordMinLength} characters.`, field: "next" };
    case "too_long":
      return { status: 400, text: "That password is too long (at most 1024 characters).", field: "next" };
    case "contains_username":
      return { status: 400, text: "Your new password must not contain your username.", field: "next" };
    case "forbidden_characters":
      return { status: 400, text: "Passwords can't contain control characters.", field: "next" };
    case "not_here":
      return { status: 409, text: "Your password is kept by your chat server, not here: change it in your chat app." };
    case "busy":
      return { status: 503, text: "The server is busy right now. Nothing was changed: please try again in a moment." };
    case "unavailable":
    case "provision_failed":
      return { status: 503, text: "We couldn't change your password right now. Nothing was changed: please try again in a moment." };
  }
}

const DELETE_MESSAGES: Record<DeleteRefusal, { status: number; text: string }> = {
  missing: { status: 400, text: "Please type your password to confirm." },
  wrong_password: { status: 403, text: "That password is not right. Nothing was deleted." },
  downstream_failed: { status: 503, text: "The server that holds your account didn't accept the deletion, so nothing was deleted. Please try again later, or ask the people who run this server." },
  busy: { status: 503, text: "The server is busy right now. Nothing was deleted: please try again in a moment." },
  unavailable: { status: 503, text: "We can't check your password right now. Nothing was deleted: please try again in a moment." },
};

export function passwordPages(ctx: AppContext, paths: AccountPaths) {
  const path = paths.password;

  const form = (signedIn: SignedIn, o: { error?: { text: string; field?: string } | null; status?: number; notMe?: boolean } = {}) => {
    const { host, session, csrf } = signedIn;
    const err = (f: string) => (o.error?.field === f ? o.error.text : null);
    const body = passwordChangeable(host)
      ? html`<span class="pill">Password</span>
<h1>Change your password</h1>
<p class="lead">${o.notMe ? "Every other device is signed out now. Choose a new password so whoever it was can't sign in again." : "Type your current password, then the new one twice. Every other device is signed out afterwards."}</p>
${formError(o.error && !o.error.field ? o.error.text : null)}
<form method="post" action="${relativePath(path, path)}" accept-charset="utf-8">
${csrfField(csrf)}
<input type="text" name="user" value="${session.username}@${host.name}" autocomplete="username" hidden>
${field({ id: "current", name: "current", label: "Current password", type: "password", required: true, maxlength: 1024, autocomplete: "current-password", error: err("current"), autofocus: true })}
${field({ id: "next", name: "password", label: "New password", type: "password", required: true, minlength: host.passwordMinLength, maxlength: 1024, autocomplete: "new-password", error: err("next"), hint: `At least ${host.passwordMinLength} characters, and not containing your username.` })}
${field({ id: "confirm", name: "password_confirm", label: "Repeat the new password", type: "password", required: true, minlength: host.passwordMinLength, maxlength: 1024, autocomplete: "new-password", error: err("confirm") })}
<button class="btn" type="submit">Change password</button>
</form>`
      : html`<span class="pill">Password</span><h1>Change your password</h1><p class="lead">Your password is kept by your chat server, not here: change it in your chat app.</p>`;
    return accountPage({ ctx, paths, path, title: "Change your password", body, signedIn, host, status: o.status });
  };

  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const signedIn = await requireSignedIn(ctx, request, paths, path);
    if (signedIn instanceof Response) return signedIn;
    return form(signedIn, { notMe: new URL(request.url).searchParams.get("reason") === "not_me" });
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
    const m = changeMessage(result.reason, host);
    const res = form(signedIn, { error: { text: m.text, field: m.field }, status: m.status });
    if (m.status === 503) res.headers.set("Retry-After", "5");
    return res;
  };

  const deletePath = paths.deleteAccount;
  const deleteForm = (signedIn: SignedIn, error: string | null = null, status = 200) => {
    const { host, session, csrf } = signedIn;
    const body = html`<span class="pill bad">Delete account</span>
<h1>Delete <span class="addr">${session.username}@${host.name}</span>?</h1>
<p class="lead">Your account is removed for good and you are signed out. Invites you made stop counting for you. This can't be undone.</p>
${formError(error)}
<form method="post" action="${relativePath(deletePath, deletePath)}" accept-charset="utf-8">
${csrfField(csrf)}
<input type="text" name="user" value="${session.username}@${host.name}" autocomplete="username" hidden>
${field({ id: "password", name: "password", label: "Your password, to confirm", type: "password", required: true, maxlength: 1024, autocomplete: "current-password", autofocus: true })}
<button class="btn danger" type="submit">Delete my account</button>
</form>`;
    return accountPage({ ctx, paths, path: deletePath, title: "Delete your account", body, signedIn, host, status });
  };

  const showDelete = async ({ request }: { request: Request }) => {
    const signedIn = await requireSignedIn(ctx, request, paths, deletePath);
    if (signedIn instanceof Response) return signedIn;
    return deleteForm(signedIn);
  };

  const submitDelete = async ({ request }: { request: Request }) => {
    const post = await readSignedInPost(ctx, request, paths, deletePath);
    if (post instanceof Response) return post;
    const { session, host } = post.signedIn;
    const result = await deleteOwnAccount(ctx, requestOrigin(request, "web", `account/${session.username}@${host.name}`), host, session.username, post.fields.get("password") ?? "");
    if (result.ok) return seeOther(deletePath, paths.login, "?done=deleted", clearedSessionCookies());
    const m = DELETE_MESSAGES[result.reason];
    return deleteForm(post.signedIn, m.text, m.status);
  };

  return new Elysia({ name: "account-password" })
    .get(path, show)
    .post(path, submit, { parse: "none" })
    .get(deletePath, showDelete)
    .post(deletePath, submitDelete, { parse: "none" });
}
