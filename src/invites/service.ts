import { and, desc, eq, sql } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { invites, redemptions } from "./schema.ts";
import { hashToken, randomId, randomToken } from "../lib/tokens.ts";
import { recordEvent } from "../audit/service.ts";

export type InviteKind = "account" | "reset";
export type InviteStatus = "active" | "expired" | "used" | "revoked";
export type Invite = typeof invites.$inferSelect;
export type Redemption = typeof redemptions.$inferSelect;

export interface CreateInviteInput {
  host: HostConfig;
  kind?: InviteKind;
  username?: string | null;
  groups?: string[];
  roles?: string[];
  /** undefined: 1 use; null: unlimited (only when asked for explicitly). */
  maxUses?: number | null;
  /** Lifetime in ms; default from the host config (reset invites: reset_ttl). */
  ttl?: number;
  note?: string | null;
  createdBy: string;
}

export class InviteError extends Error {
  constructor(
    readonly code: "ttl_too_long" | "invalid_uses" | "invalid_username" | "not_found",
    message: string,
  ) {
    super(message);
  }
}

export interface CreatedInvite {
  invite: Invite;
  token: string;
  url: string;
  xmppUri: string;
}

export function inviteUrl(host: HostConfig, token: string): string {
  return `${host.publicUrl}${host.invitePath}?${token}`;
}
export function xmppUri(host: HostConfig, token: string): string {
  return `xmpp:${host.name}?register;preauth=${token}`;
}

/** Validates options against the host's limits; throws InviteError. Pure, so callers can check before queueing. */
export function resolveInviteOptions(input: CreateInviteInput) {
  const kind = input.kind ?? "account";
  const ttl = input.ttl ?? (kind === "reset" ? input.host.resetTtl : input.host.inviteTtl);
  if (!Number.isSafeInteger(ttl) || ttl < 1000) throw new InviteError("ttl_too_long", "lifetime must be at least 1s");
  if (ttl > input.host.inviteMaxTtl) throw new InviteError("ttl_too_long", `lifetime exceeds this host's maximum (invite_max_ttl)`);
  const maxUses = input.maxUses === undefined ? 1 : input.maxUses;
  if (maxUses !== null && (!Number.isSafeInteger(maxUses) || maxUses < 1 || maxUses > 1_000_000))
    throw new InviteError("invalid_uses", "max_uses must be a whole number from 1 to 1000000");
  if (kind === "reset" && !input.username) throw new InviteError("invalid_username", "a reset invite needs the account's username");
  return { kind, ttl, maxUses };
}

/**
 * Creates an invite and its audit event in one transaction and returns the one-time token. The token (128 random
 * bits) is not stored, only its SHA-256, so the URL can be shown exactly once.
 */
export async function createInvite(ctx: AppContext, origin: Origin, input: CreateInviteInput): Promise<CreatedInvite> {
  const { kind, ttl, maxUses } = resolveInviteOptions(input);
  const token = randomToken(16);
  const invite = await ctx.db.write(() => {
    const now = Date.now();
    const row = insertInvite(ctx).get({
      id: randomId(12),
      host: input.host.name,
      kind,
      tokenHash: hashToken(token),
      username: input.username ?? null,
      groups: JSON.stringify(input.groups ?? []),
      roles: JSON.stringify(input.roles ?? []),
      note: input.note ?? null,
      createdAt: now,
      expiresAt: now + ttl,
      maxUses,
      createdBy: input.createdBy,
    })!;
    recordEvent(
      ctx,
      origin,
      { type: "invite.created", host: input.host.name, user: kind === "reset" ? (input.username ?? "") : "", details: { invite_id: row.id, kind, max_uses: maxUses, expires_at: row.expiresAt, created_by: input.createdBy } },
      now,
    );
    return row;
  });
  return { invite, token, url: inviteUrl(input.host, token), xmppUri: xmppUri(input.host, token) };
}

const insertStatements = new WeakMap<AppContext["db"], ReturnType<typeof prepareInsert>>();
function prepareInsert(ctx: AppContext) {
  const p = (n: string) => sql.placeholder(n);
  return ctx.db.orm
    .insert(invites)
    .values({
      id: p("id"),
      host: p("host"),
      kind: p("kind"),
      tokenHash: p("tokenHash"),
      username: p("username"),
      groups: p("groups"),
      roles: p("roles"),
      note: p("note"),
      createdAt: p("createdAt"),
      expiresAt: p("expiresAt"),
      maxUses: p("maxUses"),
      createdBy: p("createdBy"),
    })
    .returning()
    .prepare();
}
function insertInvite(ctx: AppContext) {
  let stmt = insertStatements.get(ctx.db);
  if (!stmt) insertStatements.set(ctx.db, (stmt = prepareInsert(ctx)));
  return stmt;
}

export function inviteStatus(invite: Invite, now = Date.now()): InviteStatus {
  if (invite.revokedAt !== null) return "revoked";
  if (invite.maxUses !== null && invite.uses >= invite.maxUses) return "used";
  if (now >= invite.expiresAt) return "expired";
  return "active";
}

/** Looks an invite up by its token (via the token's hash). Junk tokens never reach the database. */
export function findInviteByToken(ctx: AppContext, token: string | null | undefined): Invite | null {
  if (!token || token.length > 128 || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
  return ctx.db.orm.select().from(invites).where(eq(invites.tokenHash, hashToken(token))).get() ?? null;
}

export function getInvite(ctx: AppContext, host: string, id: string): Invite | null {
  return ctx.db.orm.select().from(invites).where(and(eq(invites.host, host), eq(invites.id, id))).get() ?? null;
}

export function listRedemptions(ctx: AppContext, inviteId: string): Redemption[] {
  return ctx.db.orm.select().from(redemptions).where(eq(redemptions.inviteId, inviteId)).orderBy(redemptions.id).all();
}

export function countInvites(ctx: AppContext, host: string): number {
  return ctx.db.orm.select({ n: sql<number>`count(*)` }).from(invites).where(eq(invites.host, host)).get()?.n ?? 0;
}

export function latestInvites(ctx: AppContext, host: string, limit: number): Invite[] {
  return ctx.db.orm.select().from(invites).where(eq(invites.host, host)).orderBy(desc(invites.createdAt)).limit(limit).all();
}
