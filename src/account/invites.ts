import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { requestOrigin } from "../http/request-info.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { csrfField, field, postButton, table } from "../web/parts.ts";
import { qrCode } from "../web/qr.ts";
import { findAccount } from "../accounts/service.ts";
import { InviteError, type CreatedInvite } from "../invites/service.ts";
import { MemberInviteError, createMemberInvite, listMemberInvites, memberAllowance, revokeMemberInvite, type Allowance } from "../invites/member-invites.ts";
import type { MessageKey, Messages, PageLanguage } from "../i18n/index.ts";
import { languagesOf } from "../web/language.ts";
import type { SignedIn } from "../sessions/http.ts";
import { accountPage, readSignedInPost, requireSignedIn, seeOther, type AccountPaths } from "./frame.ts";

/**
 * ACCOUNT_PATH/invites, "my invites": make an invite within the quota, see each one's status and which account used
 * it, revoke it. Only a hash of an invite's token is stored, so its link and QR code are shown once, right after it
 * is made (as the CLI and the API do).
 */

const STATUS_PILL: Record<string, string> = { active: "ok", used: "", expired: "warn", revoked: "bad" };
const STATUS_TEXT: Record<string, MessageKey> = { active: "invites_status_open", used: "invites_status_used", expired: "invites_status_expired", revoked: "invites_status_revoked" };

/** Why a member may not invite (or how many more they may), and when they may again: one or two sentences. */
function allowanceText(m: Messages, a: Pick<Allowance, "refusal" | "nextAt" | "quota" | "used">, now: number): string {
  const next = a.nextAt ? ` ${m.text("invites_next", { when: m.relative(a.nextAt - now) })}` : "";
  switch (a.refusal) {
    case "off":
      return m.text("invites_off");
    case "too_new":
      return `${m.text("invites_too_new")}${next}`;
    case "disabled":
      return m.text("invites_disabled");
    case "quota":
      return `${m.text("invites_quota_used", { quota: a.quota ?? 0 })}${next}`;
    default:
      return a.quota === null ? m.text("invites_unlimited") : m.text("invites_left", { left: a.quota - a.used, used: a.used, quota: a.quota });
  }
}

export function invitePages(ctx: AppContext, paths: AccountPaths) {
  const path = paths.invites;
  const revokePath = `${path}/revoke`;

  const page = (signedIn: SignedIn, language: PageLanguage, o: { created?: CreatedInvite | null; error?: string | null; status?: number; notice?: MessageKey | null } = {}) => {
    const { host, session, csrf } = signedIn;
    const { m } = language;
    const now = Date.now();
    const account = findAccount(ctx, host.name, session.username);
    const allowance = account ? memberAllowance(ctx, host, account, now) : null;
    const mine = listMemberInvites(ctx, host.name, session.username, 100, now);
    const cfg = host.userInvites;
    const created = o.created
      ? html`<section aria-labelledby="new-h"><div class="flash ok" role="status">${m.html("invites_ready")}</div><h2 id="new-h">${m.html("invites_new_title")}</h2>
<div class="layout"><div>
<p>${m.html("invites_new_text")}</p>
<div class="field"><label for="link">${m.html("invites_link_label")}</label><div class="inputs" dir="ltr"><input id="link" value="${o.created.url}" readonly></div></div>
<ul class="facts"><li>${o.created.invite.maxUses === 1 ? m.html("fact_works_once") : m.html("invites_works_times", { count: o.created.invite.maxUses ?? 0 })}</li><li>${m.html("fact_expires", { when: m.relative(o.created.invite.expiresAt - now) })}</li>${o.created.invite.note ? html`<li>${o.created.invite.note}</li>` : ""}</ul>
</div>
<aside class="qr">${qrCode(o.created.url, m.text("invites_qr_label"))}<p>${m.html("invites_qr_caption")}</p></aside></div></section>`
      : "";
    const rows = mine.map((mi): (RawHtml | string)[] => {
      const status = html`<span class="pill ${STATUS_PILL[mi.status] ?? ""}">${STATUS_TEXT[mi.status] ? m.html(STATUS_TEXT[mi.status]!) : mi.status}</span>`;
      const uses = mi.invite.maxUses !== null && mi.invite.maxUses > 1 ? html`<span class="note">${m.html("invites_uses_of", { uses: mi.invite.uses, max: mi.invite.maxUses })}</span>` : "";
      const usedBy = html`${mi.usedBy.length ? mi.usedBy.map((u, i) => html`${i ? ", " : ""}<bdi class="addr">${u}@${host.name}</bdi>`) : m.html("account_nobody_yet")}${uses}`;
      const made = m.dateTime(mi.invite.createdAt);
      const action = mi.status === "active" ? postButton({ action: relativePath(path, revokePath), csrf, label: m.text("invites_revoke"), fields: { invite: mi.invite.id }, kind: "ghost-danger", small: true, ariaLabel: m.text("invites_revoke_label", { when: made }) }) : "";
      const madeCell = html`${made}${mi.invite.note ? html`<span class="note">${mi.invite.note}</span>` : ""}`;
      return [madeCell, status, usedBy, mi.status === "active" ? m.relative(mi.invite.expiresAt - now) : m.dateTime(mi.invite.revokedAt ?? mi.invite.expiresAt), action];
    });
    const canCreate = allowance?.allowed === true;
    const body = html`<span class="pill">${m.html("account_nav_invites")}</span>
<h1>${m.html("invites_heading")}</h1>
<p class="lead">${allowance ? allowanceText(m, allowance, now) : ""}</p>
${o.error ? html`<div class="alert" role="alert">${o.error}</div>` : ""}
${created}
${
  canCreate
    ? html`<form method="post" action="${relativePath(path, path)}" accept-charset="utf-8">
${csrfField(csrf)}
${cfg.uses > 1 ? field({ id: "uses", name: "uses", label: m.text("invites_uses_label"), type: "number", value: 1, min: 1, max: cfg.uses, required: true, hint: m.html("invites_uses_hint", { max: cfg.uses }) }) : ""}
${field({ id: "note", name: "note", label: m.text("invites_note_label"), maxlength: 200, hint: m.html("invites_note_hint") })}
<button class="btn" type="submit">${m.html("invites_create")}</button>
</form>`
    : ""
}
<section aria-labelledby="mine-h"><h2 id="mine-h">${m.html("invites_mine")}</h2>
${table({ head: [m.text("invites_col_made"), m.text("invites_col_status"), m.text("invites_col_used_by"), m.text("invites_col_expires"), ""], rows, empty: m.text("invites_none"), stack: true })}</section>`;
    return accountPage({ ctx, paths, path, title: m.text("account_nav_invites"), body, signedIn, host, status: o.status, notice: o.notice ? { kind: "ok", text: m.html(o.notice) } : null, language, languageQuery: "?" });
  };

  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const signedIn = await requireSignedIn(ctx, request, paths, path);
    if (signedIn instanceof Response) return signedIn;
    const done = new URL(request.url).searchParams.get("done");
    return page(signedIn, languagesOf(ctx, signedIn.host).choose(request), { notice: done === "revoked" ? "invites_done_revoked" : null });
  };

  const create = async ({ request }: { request: Request }) => {
    const post = await readSignedInPost(ctx, request, paths, path);
    if (post instanceof Response) return post;
    const { signedIn, fields } = post;
    const { session, host } = signedIn;
    const usesText = fields.get("uses");
    const uses = usesText === undefined || usesText === "" ? undefined : /^\d{1,7}$/.test(usesText.trim()) ? Number(usesText.trim()) : NaN;
    const note = (fields.get("note") ?? "").trim();
    const language = languagesOf(ctx, host).choose(request);
    const { m } = language;
    try {
      const created = await createMemberInvite(ctx, requestOrigin(request, "web", `account/${session.username}@${host.name}`), host, session.username, { uses, note: note || null });
      return page(signedIn, language, { created, status: 201 });
    } catch (e) {
      if (e instanceof MemberInviteError) {
        const why = e.reason === "invalid_uses" ? m.text("invites_invalid_uses", { max: host.userInvites.uses }) : `${m.text("invites_not_made")} ${allowanceText(m, { refusal: e.reason, nextAt: e.retryAt, quota: host.userInvites.quota, used: 0 }, Date.now())}`;
        return page(signedIn, language, { error: why, status: e.reason === "invalid_uses" ? 400 : 403 });
      }
      if (e instanceof InviteError) return page(signedIn, language, { error: m.text("invites_not_made"), status: 400 });
      throw e;
    }
  };

  const revoke = async ({ request }: { request: Request }) => {
    const post = await readSignedInPost(ctx, request, paths, revokePath);
    if (post instanceof Response) return post;
    const { session, host } = post.signedIn;
    const id = post.fields.get("invite") ?? "";
    const revoked = /^[0-9A-Za-z]{12}$/.test(id) ? await revokeMemberInvite(ctx, requestOrigin(request, "web", `account/${session.username}@${host.name}`), host.name, session.username, id) : null;
    const language = languagesOf(ctx, host).choose(request);
    if (!revoked) return page(post.signedIn, language, { error: language.m.text("invites_not_yours"), status: 404 });
    return seeOther(revokePath, path, "?done=revoked");
  };

  return new Elysia({ name: "account-invites" }).get(path, show).post(path, create, { parse: "none" }).post(revokePath, revoke, { parse: "none" });
}
