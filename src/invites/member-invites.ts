import { and, desc, eq, gte, sql } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { invites } from "./schema.ts";
import { InviteError, insertInviteTx, inviteStatus, inviteUrl, listRedemptions, parseLabels, offeredXmppUri, resolveInviteOptions, type CreatedInvite, type Invite, type InviteStatus } from "./service.ts";
import { findAccount, type Account } from "../accounts/service.ts";
import { memberCreator } from "../accounts/tree.ts";
import { recordEvent } from "../audit/service.ts";
import { metrics } from "../metrics/index.ts";

/**
 * Invites that members make from their account page ([hosts.X.user_invites]): within a quota per period, one use
 * each by default, never with roles or groups. The quota is counted and the invite inserted in one write job, so
 * parallel requests cannot together go past it.
 */

export type MemberInviteRefusal = "off" | "too_new" | "disabled" | "quota" | "invalid_uses";

export class MemberInviteError extends Error {
  constructor(
    readonly reason: MemberInviteRefusal,
    message: string,
    /** quota: when the oldest invite of the period stops counting. */
    readonly retryAt: number | null = null,
  ) {
    super(message);
  }
}

export interface Allowance {
  /** Whether the member may create an invite now, and why not. */
  allowed: boolean;
  refusal: MemberInviteRefusal | null;
  /** null: no quota (a role in roles_unlimited). */
  quota: number | null;
  used: number;
  /** When the next invite may be made (quota spent or account too new). */
  nextAt: number | null;
}

function unlimited(host: HostConfig, account: Account): boolean {
  const roles = parseLabels(account.roles);
  return host.userInvites.rolesUnlimited.some((r) => roles.includes(r));
}

/** Invites this member made in the current period (any status: revoking one gives no quota back). */
function madeInPeriod(ctx: AppContext, host: HostConfig, account: Account, now: number): { count: number; oldest: number | null } {
  const row = ctx.db.orm
    .select({ count: sql<number>`count(*)`, oldest: sql<number | null>`min(${invites.createdAt})` })
    .from(invites)
    .where(and(eq(invites.createdBy, memberCreator(host.name, account.username)), gte(invites.createdAt, now - host.userInvites.period), sql`${invites.createdBy} LIKE 'account/%'`))
    .get();
  return { count: row?.count ?? 0, oldest: row?.oldest ?? null };
}

export function memberAllowance(ctx: AppContext, host: HostConfig, account: Account, now = Date.now()): Allowance {
  const cfg = host.userInvites;
  const isUnlimited = unlimited(host, account);
  const { count, oldest } = madeInPeriod(ctx, host, account, now);
  const quota = isUnlimited ? null : cfg.quota;
  const refuse = (refusal: MemberInviteRefusal, nextAt: number | null = null): Allowance => ({ allowed: false, refusal, quota, used: count, nextAt });
  if (account.disabledAt) return refuse("disabled");
  if (!isUnlimited && cfg.quota === 0) return refuse("off");
  if (now < account.createdAt + cfg.minAccountAge) return refuse("too_new", account.createdAt + cfg.minAccountAge);
  if (quota !== null && count >= quota) return refuse("quota", oldest === null ? null : oldest + cfg.period);
  return { allowed: true, refusal: null, quota, used: count, nextAt: null };
}

const REFUSAL_TEXT: Record<MemberInviteRefusal, string> = {
  off: "members of this server cannot create invites",
  too_new: "your account is too new to invite people yet",
  disabled: "this account is disabled",
  quota: "you have used all your invites for now",
  invalid_uses: "that number of uses is not allowed",
};

export interface MemberInviteInput {
  /** How many accounts it may create; at most [user_invites] uses. Default: uses. */
  uses?: number;
  note?: string | null;
}

/** Creates a member's invite: the allowance is decided and the invite inserted in the same write job. */
export async function createMemberInvite(ctx: AppContext, origin: Origin, host: HostConfig, username: string, input: MemberInviteInput = {}): Promise<CreatedInvite> {
  const cfg = host.userInvites;
  const uses = input.uses ?? cfg.uses;
  if (!Number.isSafeInteger(uses) || uses < 1 || uses > cfg.uses) throw new MemberInviteError("invalid_uses", `uses must be a whole number from 1 to ${cfg.uses}`);
  const createdBy = memberCreator(host.name, username);
  // Roles and groups are never granted by a member's invite.
  const request = { host, kind: "account" as const, maxUses: uses, ttl: Math.min(cfg.ttl, host.inviteMaxTtl), note: input.note ?? null, groups: [], roles: [], createdBy };
  const resolved = resolveInviteOptions(request);
  const { invite, token } = await ctx.db.write(() => {
    const now = Date.now();
    const account = findAccount(ctx, host.name, username);
    if (!account) throw new MemberInviteError("disabled", "this account no longer exists");
    const allowance = memberAllowance(ctx, host, account, now);
    if (!allowance.allowed) throw new MemberInviteError(allowance.refusal!, REFUSAL_TEXT[allowance.refusal!], allowance.nextAt);
    return insertInviteTx(ctx, origin, request, resolved, now);
  });
  metrics.invitesCreated.inc({ host: host.name });
  return { invite, token, url: inviteUrl(host, token), xmppUri: offeredXmppUri(ctx, host, token, null) };
}

export interface MemberInviteView {
  invite: Invite;
  status: InviteStatus;
  /** The accounts made with it (the ledger), oldest first: only their names, never where they came from. */
  usedBy: string[];
}

/** A member's invites, newest first, with who used each. */
export function listMemberInvites(ctx: AppContext, host: string, username: string, limit = 100, now = Date.now()): MemberInviteView[] {
  const rows = ctx.db.orm
    .select()
    .from(invites)
    .where(and(eq(invites.createdBy, memberCreator(host, username)), eq(invites.host, host), sql`${invites.createdBy} LIKE 'account/%'`))
    .orderBy(desc(invites.createdAt), desc(invites.id))
    .limit(limit)
    .all();
  return rows.map((invite) => ({ invite, status: inviteStatus(invite, now), usedBy: listRedemptions(ctx, invite.id).map((r) => r.username) }));
}

/** Revokes one of the member's own invites. Null when it is not theirs (or does not exist). */
export async function revokeMemberInvite(ctx: AppContext, origin: Origin, host: string, username: string, id: string): Promise<Invite | null> {
  return ctx.db.write(() => {
    const now = Date.now();
    const updated = ctx.db.orm
      .update(invites)
      .set({ revokedAt: now })
      .where(and(eq(invites.id, id), eq(invites.host, host), eq(invites.createdBy, memberCreator(host, username)), sql`${invites.revokedAt} IS NULL`))
      .returning()
      .get();
    if (updated) {
      recordEvent(ctx, origin, { type: "invite.revoked", host, user: username, details: { invite_id: id, created_by: updated.createdBy } }, now);
      return updated;
    }
    const row = ctx.db.orm.select().from(invites).where(and(eq(invites.id, id), eq(invites.host, host), eq(invites.createdBy, memberCreator(host, username)))).get();
    return row ?? null;
  });
}

/** Inside a write job: revokes every open invite a member made (disable, `invite revoke --by`). Returns their ids. */
export function revokeInvitesByMemberTx(ctx: AppContext, origin: Origin, host: string, username: string, now = Date.now()): string[] {
  const revoked = ctx.db.orm
    .update(invites)
    .set({ revokedAt: now })
    .where(
      and(
        eq(invites.createdBy, memberCreator(host, username)),
        eq(invites.host, host),
        sql`${invites.createdBy} LIKE 'account/%'`,
        sql`${invites.revokedAt} IS NULL`,
        sql`${invites.expiresAt} > ${now}`,
        sql`(${invites.maxUses} IS NULL OR ${invites.uses} < ${invites.maxUses})`,
      ),
    )
    .returning({ id: invites.id })
    .all()
    .map((r) => r.id);
  for (const id of revoked) recordEvent(ctx, origin, { type: "invite.revoked", host, user: username, details: { invite_id: id, created_by: memberCreator(host, username) } }, now);
  return revoked;
}

export async function revokeInvitesByMember(ctx: AppContext, origin: Origin, host: string, username: string): Promise<string[]> {
  return ctx.db.write(() => revokeInvitesByMemberTx(ctx, origin, host, username));
}

export { InviteError };
