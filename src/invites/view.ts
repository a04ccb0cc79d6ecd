import { type CreatedInvite, type Invite, type Redemption, inviteStatus, parseLabels } from "./service.ts";

/** An invite as the JSON API shows it. Times are ISO 8601; the token is not stored, so it is never shown here. */
export function inviteView(invite: Invite, now = Date.now()) {
  return {
    id: invite.id,
    host: invite.host,
    kind: invite.kind as "account" | "reset",
    status: inviteStatus(invite, now),
    username: invite.username,
    groups: parseLabels(invite.groups),
    roles: parseLabels(invite.roles),
    note: invite.note,
    created_at: iso(invite.createdAt),
    expires_at: iso(invite.expiresAt),
    max_uses: invite.maxUses,
    uses: invite.uses,
    created_by: invite.createdBy,
    revoked_at: invite.revokedAt === null ? null : iso(invite.revokedAt),
  };
}

/** A just-created invite: the stored record plus the one-time token and the links made from it. */
export function createdInviteView(created: CreatedInvite, now = Date.now()) {
  return { ...inviteView(created.invite, now), token: created.token, url: created.url, xmpp_uri: created.xmppUri };
}

export function redemptionView(r: Redemption) {
  return { username: r.username, used_at: iso(r.usedAt), source: r.source };
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

