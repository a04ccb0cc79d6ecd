import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { csrfField, facts, field, humanTime, postButton, table } from "../web/parts.ts";
import { qrCode } from "../web/qr.ts";
import { findAccount, searchAccounts, showUsername } from "../accounts/service.ts";
import { DownstreamError, deleteAccountEverywhere } from "../provisioning/lifecycle.ts";
import { accountProfile } from "../accounts/tree.ts";
import { disableAccount, enableAccount } from "../accounts/disable.ts";
import { RoleError, accountRoles, isAdminRole, setAccountRole } from "../accounts/roles.ts";
import { hasTotp } from "../accounts/totp.ts";
import { AccountStatusError } from "../accounts/tree.ts";
import { InviteError, consoleCreator, createInvite, parseLabels } from "../invites/service.ts";
import { queryEvents } from "../audit/service.ts";
import { confirmPage, consolePage, pager, params, adminProblem, readAdminPost, requireAdmin, seeOther, type Admin, type ConsolePaths } from "./frame.ts";

/**
 * ADMIN_PATH/accounts: search by name, show one with who invited it, whom it invited and its recent events;
 * disable/enable, delete, a password-reset invite, roles (the one place besides `invited user role` that grants admin).
 */

const ACTIONS = ["disable", "enable", "delete", "reset", "role_add", "role_remove"] as const;
/** A popular inviter's page lists the first ones; `invited user tree` shows them all. */
const INVITEES_SHOWN = 200;
type Action = (typeof ACTIONS)[number];

export function accountPages(ctx: AppContext, paths: ConsolePaths) {
  const path = paths.accounts;
  const actionPath = `${path}/action`;
  const pathOf = (user: string) => `${path}/${encodeURIComponent(user)}`;

  const list = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const admin = await requireAdmin(ctx, request, paths, path);
    if (admin instanceof Response) return admin;
    const M = admin.T;
    const q = params(request);
    const search = (q.get("q") ?? "").slice(0, 200);
    const rows = searchAccounts(ctx, admin.host.name, search, 51, q.get("after"));
    const shown = rows.slice(0, 50);
    const next = rows.length > 50 ? shown[shown.length - 1]!.username : null;
    const body = html`<h1>${M.accounts.title}</h1>
<form method="get" action="${relativePath(path, path)}" class="filters">${field({ id: "q", name: "q", label: M.accounts.search, value: search, verbatim: true, maxlength: 200 })}<button class="btn ghost" type="submit">${M.common.filter}</button></form>
<section>${table({
      head: [...M.accounts.head],
      rows: shown.map((a): (RawHtml | string)[] => [
        html`<a class="mono" href="${relativePath(path, pathOf(a.username))}">${showUsername(a.username)}</a>`,
        humanTime(a.createdAt),
        accountRoles(a).join(", ") || "-",
        a.invitedBy ?? "-",
        a.disabledAt === null ? html`<span class="pill ok">${M.accounts.enabled}</span>` : html`<span class="pill bad">${M.accounts.disabled}</span>`,
      ]),
      empty: M.accounts.empty,
      stack: true,
    })}${pager(M, path, q, next)}</section>`;
    return consolePage({ paths, path, title: M.accounts.title, body, admin, language: admin.language });
  };

  const showOne = (admin: Admin, user: string, o: { notice?: string | null; error?: string | null; status?: number; extra?: RawHtml } = {}) => {
    const M = admin.T;
    const here = pathOf(user);
    const profile = accountProfile(ctx, admin.host.name, user);
    if (!profile) return adminProblem(paths, here, 404, admin, M.refused.notFoundTitle, M.refused.notFound);
    const a = profile.account;
    const F = M.accounts.facts;
    const act = (action: Action, label: string, kind: "ghost" | "ghost-danger" = "ghost", extra: Record<string, string> = {}) =>
      postButton({ action: relativePath(here, actionPath), csrf: admin.csrf, label, fields: { user: a.username, action, ...extra }, kind, small: true });
    const roles = accountRoles(a);
    const events = queryEvents(ctx, { host: admin.host.name, user: a.username, limit: 20 });
    const body = html`<h1><span class="mono">${showUsername(a.username)}@${admin.host.name}</span></h1>
${o.error ? html`<div class="alert" role="alert">${o.error}</div>` : ""}${o.extra ?? ""}
${facts([
  [F.created, humanTime(a.createdAt)],
  [F.invitedBy, profile.invitedBy ? html`<a class="mono" href="${relativePath(here, pathOf(profile.invitedBy))}">${profile.invitedBy}</a>` : "-"],
  [F.creator, profile.inviteCreator ?? "-"],
  [F.roles, roles.length ? html`${roles.map((r) => html`<span class="pill">${r}</span> `)}` : "-"],
  [F.groups, parseLabels(a.groups).join(", ") || "-"],
  [F.totp, hasTotp(a) ? M.common.yes : M.common.no],
  [F.status, a.disabledAt === null ? M.accounts.enabled : `${M.accounts.disabled} (${humanTime(a.disabledAt)})`],
])}
<div class="actions">${a.disabledAt === null ? act("disable", M.accounts.disable, "ghost-danger") : act("enable", M.accounts.enable)}${act("reset", M.accounts.reset)}${act("delete", M.accounts.delete, "ghost-danger")}${roles.map((r) => act("role_remove", M.accounts.roleRemove(r), "ghost-danger", { role: r }))}</div>
<form method="post" action="${relativePath(here, actionPath)}" class="filters">${csrfField(admin.csrf)}<input type="hidden" name="user" value="${a.username}"><input type="hidden" name="action" value="role_add">
${field({ id: "role", name: "role", label: M.accounts.roleName, maxlength: 64, verbatim: true, hint: M.accounts.roleHint })}<button class="btn ghost" type="submit">${M.accounts.roleAdd}</button></form>
<section><h2>${M.accounts.invitees}</h2>${
      profile.invitees.length
        ? html`<ul class="tree">${profile.invitees.slice(0, INVITEES_SHOWN).map((i) => html`<li><a class="mono" href="${relativePath(here, pathOf(i.username))}">${i.username}</a> <span class="muted small">${humanTime(i.createdAt)}</span></li>`)}</ul>${
            profile.invitees.length > INVITEES_SHOWN ? html`<p class="muted">${M.accounts.moreInvitees(profile.invitees.length - INVITEES_SHOWN)}</p>` : ""
          }`
        : html`<p class="muted">${M.accounts.noInvitees}</p>`
    }</section>
<section><h2>${M.accounts.events}</h2>${table({ head: [...M.accounts.eventsHead], rows: events.map((e) => [humanTime(e.at), html`<span class="mono">${e.type}</span>`, e.source, e.countryCode ?? ""]), empty: M.audit.empty, stack: true })}</section>`;
    return consolePage({ paths, path: here, title: a.username, body, admin, language: admin.language, status: o.status, notice: o.notice ? { kind: "ok", text: o.notice } : null });
  };

  const one = async ({ request, params: p }: { request: Request; params: { user: string } }) => {
    let user: string;
    try {
      user = decodeURIComponent(p.user);
    } catch {
      user = "";
    }
    const admin = await requireAdmin(ctx, request, paths, pathOf(user));
    if (admin instanceof Response) return admin;
    const M = admin.T;
    const done = params(request).get("done");
    return showOne(admin, user, { notice: done ? M.accounts.done[done] ?? null : null });
  };

  const action = async ({ request }: { request: Request }) => {
    const post = await readAdminPost(ctx, request, paths, actionPath);
    if (post instanceof Response) return post;
    const { admin, fields } = post;
    const M = admin.T;
    const f = (k: string) => fields.single.get(k) ?? "";
    const account = findAccount(ctx, admin.host.name, f("user"));
    const what = ACTIONS.find((x) => x === f("action"));
    if (!account || !what) return adminProblem(paths, actionPath, 404, admin, M.refused.notFoundTitle, M.refused.notFound);
    const user = account.username;
    const here = pathOf(user);
    // `role` is a list field of the console's forms (an invite's roles); here one value is expected.
    const roleValues = fields.list("role");
    if (roleValues.length > 1) return showOne(admin, user, { error: M.refused.oneRole, status: 400 });
    const role = (roleValues[0] ?? "").trim();
    const self = user === admin.account.username;
    // An admin cannot lock themself out from here (the shell can still do it).
    if (self && (what === "disable" || what === "delete" || (what === "role_remove" && isAdminRole(role))))
      return showOne(admin, user, { error: M.refused.self, status: 400 });
    const address = `${user}@${admin.host.name}`;
    const question = what === "disable" ? M.accounts.disableConfirm(address) : what === "delete" ? M.accounts.deleteConfirm(address) : what === "role_remove" ? M.accounts.roleRemoveConfirm(role, address) : null;
    if (question && f("confirm") !== "yes") return confirmPage(paths, actionPath, admin, question, { user, action: what, ...(role ? { role } : {}) }, here);
    try {
      switch (what) {
        case "disable":
          await disableAccount(ctx, admin.origin, admin.host.name, user);
          return seeOther(actionPath, here, "?done=disabled");
        case "enable":
          await enableAccount(ctx, admin.origin, admin.host.name, user);
          return seeOther(actionPath, here, "?done=enabled");
        case "delete": {
          // The real server first, as `invited user delete` does: if it refuses, invited's record stays.
          const r = await deleteAccountEverywhere(ctx, admin.origin, admin.host, user);
          if (!r.ok && r.reason === "provision_failed") return showOne(admin, user, { error: M.accounts.downstreamFailed(r.failure.detail), status: 502 });
          return seeOther(actionPath, path, "?done=deleted");
        }
        case "role_add":
        case "role_remove":
          await setAccountRole(ctx, admin.origin, admin.host.name, user, role, what === "role_add");
          return seeOther(actionPath, here, "?done=role");
        case "reset": {
          const created = await createInvite(ctx, admin.origin, { host: admin.host, kind: "reset", username: user, createdBy: consoleCreator(admin.host.name, admin.account.username) });
          const extra = html`<section><div class="flash ok" role="status">${M.invites.created}</div><div class="layout"><div><div class="field"><label for="link">${M.invites.link}</label><div class="inputs"><input id="link" value="${created.url}" readonly></div></div><button class="btn ghost small" type="button" data-copy="link" hidden>${M.invites.copy}</button></div><aside class="qr">${qrCode(created.url, M.invites.qrLabel)}</aside></div></section>`;
          return showOne(admin, user, { extra, status: 201 });
        }
      }
    } catch (e) {
      if (e instanceof DownstreamError) return showOne(admin, user, { error: M.accounts.downstreamFailed(e.failure.detail), status: 502 });
      if (e instanceof RoleError || e instanceof InviteError || e instanceof AccountStatusError) return showOne(admin, user, { error: e.message, status: 400 });
      throw e;
    }
  };

  return new Elysia({ name: "console-accounts" }).get(path, list).post(actionPath, action, { parse: "none" }).get(`${path}/:user`, one);
}
