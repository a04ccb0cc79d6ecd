import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { requestOrigin } from "../http/request-info.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { csrfField, field, humanTime, postButton, table } from "../web/parts.ts";
import { qrCode } from "../web/qr.ts";
import { findAccount } from "../accounts/service.ts";
import { InviteError, type CreatedInvite } from "../invites/service.ts";
import { MemberInviteError, createMemberInvite, listMemberInvites, memberAllowance, revokeMemberInvite, type Allowance } from "../invites/member-invites.ts";
import { timeLeft } from "../pages/routes.ts";
import type { SignedIn } from "../sessions/http.ts";
import { accountPage, readSignedInPost, requireSignedIn, seeOther, type AccountPaths } from "./frame.ts";

/**
 * ACCOUNT_PATH/invites, "my invites": make an invite within the quota, see each one's status and which account used
 * it, revoke it. Only a hash of an invite's token is stored, so its link and QR code are shown once, right after it
 * is made (as the CLI and the API do).
 */

const STATUS_PILL: Record<string, string> = { active: "ok", used: "", expired: "warn", revoked: "bad" };
const STATUS_TEXT: Record<string, string> = { active: "Open", used: "Used", expired: "Expired", revoked: "Revoked" };

function allowanceText(a: Allowance, now: number): string {
  const next = a.nextAt ? ` You can make the next one ${timeLeft(a.nextAt - now)}.` : "";
  switch (a.refusal) {
    case "off":
      return "Members of this server can't create invites.";
    case "too_new":
      return `Your account is too new to invite people yet.${next}`;
    case "disabled":
      return "This account is disabled, so it can't invite anyone.";
    case "quota":
      return `You've used all ${a.quota} of your invites for now.${next}`;
    default:
      return a.quota === null ? "You can invite as many people as you like." : `You can make ${a.quota - a.used} more invite${a.quota - a.used === 1 ? "" : "s"} for now (${a.used} of ${a.quota} used).`;
  }
}

export function invitePages(ctx: AppContext, paths: AccountPaths) {
  const path = paths.invites;
  const revokePath = `${path}/revoke`;

  const page = (signedIn: SignedIn, o: { created?: CreatedInvite | null; error?: string | null; status?: number; notice?: string | null } = {}) => {
    const { host, session, csrf } = signedIn;
    const now = Date.now();
    const account = findAccount(ctx, host.name, session.username);
    const allowance = account ? memberAllowance(ctx, host, account, now) : null;
    const mine = listMemberInvites(ctx, host.name, session.username, 100, now);
    const cfg = host.userInvites;
    const created = o.created
      ? html`<section aria-labelledby="new-h"><div class="flash ok" role="status">Your invite is ready.</div><h2 id="new-h">Your new invite</h2>
<div class="layout"><div>
<p>Send this link to the person you're inviting. <strong>It is shown only now</strong>: copy it before you leave this page.</p>
<div class="field"><label for="link">Invite link</label><div class="inputs"><input id="link" value="${o.created.url}" readonly></div></div>
<ul class="facts"><li>Works ${o.created.invite.maxUses === 1 ? "once" : `${o.created.invite.maxUses} times`}</li><li>Expires ${timeLeft(o.created.invite.expiresAt - now)}</li>${o.created.invite.note ? html`<li>${o.created.invite.note}</li>` : ""}</ul>
</div>
<aside class="qr">${qrCode(o.created.url, "QR code of your new invite link")}<p>Or let them scan this code.</p></aside></div></section>`
      : "";
    const rows = mine.map((m): (RawHtml | string)[] => {
      const status = html`<span class="pill ${STATUS_PILL[m.status] ?? ""}">${STATUS_TEXT[m.status] ?? m.status}</span>`;
      const uses = m.invite.maxUses !== null && m.invite.maxUses > 1 ? html`<span class="note">${m.invite.uses} of ${m.invite.maxUses} uses</span>` : "";
      const usedBy = html`${m.usedBy.length ? m.usedBy.map((u, i) => html`${i ? ", " : ""}<span class="addr">${u}@${host.name}</span>`) : "Nobody yet"}${uses}`;
      const action = m.status === "active" ? postButton({ action: relativePath(path, revokePath), csrf, label: "Revoke", fields: { invite: m.invite.id }, kind: "ghost-danger", small: true, ariaLabel: `Revoke the invite made ${humanTime(m.invite.createdAt)}` }) : "";
      const made = html`${humanTime(m.invite.createdAt)}${m.invite.note ? html`<span class="note">${m.invite.note}</span>` : ""}`;
      return [made, status, usedBy, m.status === "active" ? `in ${timeLeft(m.invite.expiresAt - now).replace(/^in /, "")}` : humanTime(m.invite.revokedAt ?? m.invite.expiresAt), action];
    });
    const canCreate = allowance?.allowed === true;
    const body = html`<span class="pill">My invites</span>
<h1>Invite people</h1>
<p class="lead">${allowance ? allowanceText(allowance, now) : ""}</p>
${o.error ? html`<div class="alert" role="alert">${o.error}</div>` : ""}
${created}
${
  canCreate
    ? html`<form method="post" action="${relativePath(path, path)}" accept-charset="utf-8">
${csrfField(csrf)}
${cfg.uses > 1 ? field({ id: "uses", name: "uses", label: "How many people may use it", type: "number", value: 1, min: 1, max: cfg.uses, required: true, hint: `From 1 to ${cfg.uses}.` }) : ""}
${field({ id: "note", name: "note", label: "Note for yourself (optional)", maxlength: 200, hint: "Like “for Sam”. Only you and the admins see it." })}
<button class="btn" type="submit">Create an invite</button>
</form>`
    : ""
}
<section aria-labelledby="mine-h"><h2 id="mine-h">Invites you made</h2>
${table({ head: ["Made", "Status", "Used by", "Expires", ""], rows, empty: "You haven't made any invites yet.", stack: true })}</section>`;
    return accountPage({ ctx, paths, path, title: "My invites", body, signedIn, host, status: o.status, notice: o.notice ? { kind: "ok", text: o.notice } : null });
  };

  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const signedIn = await requireSignedIn(ctx, request, paths, path);
    if (signedIn instanceof Response) return signedIn;
    const done = new URL(request.url).searchParams.get("done");
    return page(signedIn, { notice: done === "revoked" ? "The invite is revoked: its link no longer works." : null });
  };

  const create = async ({ request }: { request: Request }) => {
    const post = await readSignedInPost(ctx, request, paths, path);
    if (post instanceof Response) return post;
    const { signedIn, fields } = post;
    const { session, host } = signedIn;
    const usesText = fields.get("uses");
    const uses = usesText === undefined || usesText === "" ? undefined : /^\d{1,7}$/.test(usesText.trim()) ? Number(usesText.trim()) : NaN;
    const note = (fields.get("note") ?? "").trim();
    try {
      const created = await createMemberInvite(ctx, requestOrigin(request, "web", `account/${session.username}@${host.name}`), host, session.username, { uses, note: note || null });
      return page(signedIn, { created, status: 201 });
    } catch (e) {
      if (e instanceof MemberInviteError) return page(signedIn, { error: e.reason === "invalid_uses" ? `Choose from 1 to ${host.userInvites.uses} uses.` : `No invite was made: ${e.message}.`, status: e.reason === "invalid_uses" ? 400 : 403 });
      if (e instanceof InviteError) return page(signedIn, { error: `No invite was made: ${e.message}.`, status: 400 });
      throw e;
    }
  };

  const revoke = async ({ request }: { request: Request }) => {
    const post = await readSignedInPost(ctx, request, paths, revokePath);
    if (post instanceof Response) return post;
    const { session, host } = post.signedIn;
    const id = post.fields.get("invite") ?? "";
    const revoked = /^[0-9A-Za-z]{12}$/.test(id) ? await revokeMemberInvite(ctx, requestOrigin(request, "web", `account/${session.username}@${host.name}`), host.name, session.username, id) : null;
    if (!revoked) return page(post.signedIn, { error: "That isn't one of your invites.", status: 404 });
    return seeOther(revokePath, path, "?done=revoked");
  };

  return new Elysia({ name: "account-invites" }).get(path, show).post(path, create, { parse: "none" }).post(revokePath, revoke, { parse: "none" });
}
