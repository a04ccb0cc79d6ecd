import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { parseDuration } from "../lib/duration.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { csrfField, facts, field, formError, humanTime, postButton, table } from "../web/parts.ts";
import { qrCode } from "../web/qr.ts";
import type { FormFields } from "../web/form-body.ts";
import {
  InviteError,
  consoleCreator,
  createInvite,
  getInvite,
  inviteStatus,
  listInvites,
  listRedemptions,
  parseLabels,
  revokeInvite,
  type CreatedInvite,
  type Invite,
  type InviteCreatorKind,
  type InviteStatus,
} from "../invites/service.ts";
import { confirmPage, consolePage, pager, params, adminProblem, readAdminPost, requireAdmin, seeOther, select, type Admin, type ConsolePaths } from "./frame.ts";
import type { ConsoleText } from "./messages.ts";

/**
 * ADMIN_PATH/invites: create (every option of `invited invite create`, fields named like its options), list with
 * status and creator filters and keyset paging, show one with its ledger, revoke (after a confirmation page).
 */

const STATUSES: InviteStatus[] = ["active", "used", "expired", "revoked"];
const CREATORS: InviteCreatorKind[] = ["cli", "key", "member", "console"];
const PILL: Record<string, string> = { active: "ok", used: "", expired: "warn", revoked: "bad" };
const ID_RE = /^[0-9A-Za-z]{12}$/;

export class FieldError extends Error {}

/** The create form's fields → createInvite's input, as the CLI reads its options. A POST with only csrf: defaults. */
function readCreateFields(M: ConsoleText, f: FormFields) {
  const text = (k: string) => (f.single.get(k) ?? "").trim();
  const on = (k: string) => ["on", "yes", "1", "true"].includes(text(k).toLowerCase());
  const username = text("username");
  const reset = on("reset");
  if (reset && !username) throw new FieldError(M.invites.errors.resetNeedsName);
  const unlimited = on("unlimited");
  let maxUses: number | null | undefined;
  if (unlimited) {
    if (text("uses") && text("uses") !== "1") throw new FieldError(M.invites.errors.usesOrUnlimited);
    maxUses = null;
  } else if (text("uses")) {
    if (!/^\d{1,7}$/.test(text("uses")) || Number(text("uses")) < 1) throw new FieldError(M.invites.errors.uses);
    maxUses = Number(text("uses"));
  }
  let ttl: number | undefined;
  if (text("ttl")) {
    const parsed = parseDuration(text("ttl"));
    if (parsed === null) throw new FieldError(M.invites.errors.ttl);
    ttl = parsed;
  }
  const labels = (k: string) => f.list(k).map((v) => v.trim()).filter(Boolean);
  return { kind: reset ? ("reset" as const) : ("account" as const), username: username || null, groups: labels("group"), roles: labels("role"), maxUses, ttl, note: text("note") || null };
}

function creatorText(M: ConsoleText, createdBy: string): string {
  if (createdBy === "cli") return M.invites.creators.cli;
  if (createdBy.startsWith("api/")) return `${M.invites.creators.key} (${createdBy.split("/").pop()})`;
  if (createdBy.startsWith("account/")) return createdBy.slice("account/".length);
  if (createdBy.startsWith("console/")) return `${M.invites.creators.console} (${createdBy.slice("console/".length)})`;
  return createdBy;
}

const usesText = (i: Invite) => `${i.uses}/${i.maxUses === null ? "∞" : i.maxUses}`;

export function invitePages(ctx: AppContext, paths: ConsolePaths) {
  const path = paths.invites;
  const revokePath = `${path}/revoke`;

  const list = (admin: Admin, request: Request, o: { created?: CreatedInvite; error?: string | null; status?: number; notice?: string | null } = {}) => {
    const M = admin.T;
    const q = params(request);
    const status = STATUSES.find((s) => s === q.get("status")) ?? null;
    const creator = CREATORS.find((c) => c === q.get("creator")) ?? null;
    let page: ReturnType<typeof listInvites>;
    try {
      page = listInvites(ctx, admin.host.name, { status: status ?? undefined, creator: creator ?? undefined, limit: 50, cursor: q.get("after") || null });
    } catch (e) {
      if (!(e instanceof InviteError)) throw e;
      return adminProblem(paths, path, 400, admin, M.refused.badInputTitle, e.message);
    }
    const now = Date.now();
    const created = o.created
      ? html`<section aria-labelledby="new-h"><div class="flash ok" role="status">${M.invites.created}</div>
<div class="layout"><div><div class="field"><label for="link">${M.invites.link}</label><div class="inputs"><input id="link" value="${o.created.url}" readonly></div></div>
<button class="btn ghost small" type="button" data-copy="link" hidden>${M.invites.copy}</button>
<ul class="facts"><li class="mono">${o.created.invite.id}</li><li>${M.invites.usesFact(usesText(o.created.invite))}</li><li>${M.invites.expiresFact(humanTime(o.created.invite.expiresAt))}</li></ul></div>
<aside class="qr">${qrCode(o.created.url, M.invites.qrLabel)}</aside></div></section>`
      : "";
    const rows = page.invites.map((i): (RawHtml | string)[] => {
      const st = inviteStatus(i, now);
      return [
        html`<a href="${relativePath(path, `${path}/${i.id}`)}">${humanTime(i.createdAt)}</a>${i.note ? html`<span class="note">${i.note}</span>` : ""}`,
        html`<span class="pill ${PILL[st] ?? ""}">${M.invites.statuses[st] ?? st}</span>`,
        html`${i.kind}${i.username ? html` <span class="mono">${i.username}</span>` : ""}`,
        usesText(i),
        creatorText(M, i.createdBy),
        humanTime(i.expiresAt),
        st === "active" ? postButton({ action: relativePath(path, revokePath), csrf: admin.csrf, label: M.invites.revoke, fields: { id: i.id }, kind: "ghost-danger", small: true, ariaLabel: `${M.invites.revoke} ${i.id}` }) : "",
      ];
    });
    const body = html`<h1>${M.invites.title}</h1>
${formError(o.error)}${created}
<details class="platform"${o.error || rows.length === 0 ? html` open` : ""}><summary>${M.invites.create}</summary><div class="nested">
<form method="post" action="${relativePath(path, path)}" accept-charset="utf-8">${csrfField(admin.csrf)}
<div class="grid2">
${field({ id: "username", name: "username", label: M.invites.username, maxlength: 1100, verbatim: true })}
${field({ id: "note", name: "note", label: M.invites.note, maxlength: 1000 })}
${field({ id: "group1", name: "group", label: M.invites.group, maxlength: 64, verbatim: true })}
${field({ id: "group2", name: "group", label: M.invites.group, maxlength: 64, verbatim: true })}
${field({ id: "role1", name: "role", label: M.invites.role, maxlength: 64, verbatim: true })}
${field({ id: "role2", name: "role", label: M.invites.role, maxlength: 64, verbatim: true })}
${field({ id: "uses", name: "uses", label: M.invites.uses, type: "number", min: 1, max: 1_000_000 })}
${field({ id: "ttl", name: "ttl", label: M.invites.ttl, maxlength: 20, verbatim: true })}
</div>
<label class="check"><input type="checkbox" name="unlimited" value="on"> ${M.invites.unlimited}</label>
<label class="check"><input type="checkbox" name="reset" value="on"> ${M.invites.reset}</label>
<button class="btn" type="submit">${M.invites.createButton}</button></form></div></details>
<form method="get" action="${relativePath(path, path)}" class="filters">
${select({ id: "status", name: "status", label: M.invites.status, value: status, options: [["", M.common.all], ...STATUSES.map((s): [string, string] => [s, M.invites.statuses[s]!])] })}
${select({ id: "creator", name: "creator", label: M.invites.creator, value: creator, options: [["", M.invites.anyCreator], ...CREATORS.map((c): [string, string] => [c, M.invites.creators[c]])] })}
<button class="btn ghost" type="submit">${M.common.filter}</button></form>
<section>${table({ head: [...M.invites.head, ""], rows, empty: M.invites.empty, stack: true })}${pager(M, path, q, page.next)}</section>`;
    return consolePage({ paths, path, title: M.invites.title, body, admin, language: admin.language, status: o.status, notice: o.notice ? { kind: "ok", text: o.notice } : null });
  };

  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const admin = await requireAdmin(ctx, request, paths, path);
    if (admin instanceof Response) return admin;
    const M = admin.T;
    return list(admin, request, { notice: params(request).get("done") === "revoked" ? M.invites.revoked : null });
  };

  const create = async ({ request }: { request: Request }) => {
    const post = await readAdminPost(ctx, request, paths, path);
    if (post instanceof Response) return post;
    const { admin, fields } = post;
    const M = admin.T;
    try {
      const input = readCreateFields(M, fields);
      const created = await createInvite(ctx, admin.origin, { host: admin.host, ...input, createdBy: consoleCreator(admin.host.name, admin.account.username) });
      return list(admin, request, { created, status: 201 });
    } catch (e) {
      if (e instanceof FieldError || e instanceof InviteError) return list(admin, request, { error: e.message, status: 400 });
      throw e;
    }
  };

  const one = async ({ request, params: p }: { request: Request; params: { id: string } }) => {
    const here = `${path}/${p.id}`;
    const admin = await requireAdmin(ctx, request, paths, here);
    if (admin instanceof Response) return admin;
    const M = admin.T;
    const invite = ID_RE.test(p.id) ? getInvite(ctx, admin.host.name, p.id) : null;
    if (!invite) return adminProblem(paths, here, 404, admin, M.refused.notFoundTitle, M.refused.notFound);
    const st = inviteStatus(invite);
    const F = M.invites.facts;
    const ledger = listRedemptions(ctx, invite.id).map((r) => [humanTime(r.usedAt), html`<a class="mono" href="${relativePath(here, `${paths.accounts}/${encodeURIComponent(r.username)}`)}">${r.username}</a>`, r.source]);
    const body = html`<h1>${M.invites.title}: <span class="mono">${invite.id}</span></h1>
<p><span class="pill ${PILL[st] ?? ""}">${M.invites.statuses[st] ?? st}</span></p>
${facts([
  [F.kind, invite.kind],
  [F.username, invite.username ?? "-"],
  [F.groups, parseLabels(invite.groups).join(", ") || "-"],
  [F.roles, parseLabels(invite.roles).join(", ") || "-"],
  [F.uses, usesText(invite)],
  [F.created, humanTime(invite.createdAt)],
  [F.expires, humanTime(invite.expiresAt)],
  [F.creator, creatorText(M, invite.createdBy)],
  [F.note, invite.note ?? "-"],
])}
${st === "active" ? html`<div class="actions">${postButton({ action: relativePath(here, revokePath), csrf: admin.csrf, label: M.invites.revoke, fields: { id: invite.id }, kind: "ghost-danger", small: true })}</div>` : ""}
<section><h2>${M.invites.ledger}</h2>${table({ head: [...M.invites.ledgerHead], rows: ledger, empty: M.invites.ledgerEmpty, stack: true })}</section>`;
    return consolePage({ paths, path: here, title: invite.id, body, admin, language: admin.language });
  };

  const revoke = async ({ request }: { request: Request }) => {
    const post = await readAdminPost(ctx, request, paths, revokePath);
    if (post instanceof Response) return post;
    const { admin, fields } = post;
    const M = admin.T;
    const id = fields.single.get("id") ?? "";
    const invite = ID_RE.test(id) ? getInvite(ctx, admin.host.name, id) : null;
    if (!invite) return adminProblem(paths, revokePath, 404, admin, M.refused.notFoundTitle, M.refused.notFound);
    if (fields.single.get("confirm") !== "yes") return confirmPage(paths, revokePath, admin, M.invites.revokeConfirm(id), { id }, path);
    await revokeInvite(ctx, admin.origin, admin.host.name, id);
    return seeOther(revokePath, path, "?done=revoked");
  };

  return new Elysia({ name: "console-invites" })
    .get(path, show)
    .post(path, create, { parse: "none" })
    .post(revokePath, revoke, { parse: "none" })
    .get(`${path}/:id`, one);
}
