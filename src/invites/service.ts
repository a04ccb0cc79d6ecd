import { and, desc, eq, sql } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { invites, redemptions } from "./schema.ts";
import { digestsEqual, hashToken, randomToken, sortableId } from "../lib/tokens.ts";
import { recordEvent } from "../audit/service.ts";
import { perDb } from "../db/index.ts";
import { checkUsername, findAccount, normaliseUsername, usernameConflictTx, usernameProblemMessage, usernameSkeleton, type UsernameConflict } from "../accounts/service.ts";
import { metrics } from "../metrics/index.ts";
import { isAdminRole } from "../accounts/roles.ts";
import { appRegistrationOffered } from "../prosody/service.ts";

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
    readonly code: "ttl_too_long" | "invalid_uses" | "invalid_username" | "username_taken" | "account_missing" | "invalid_label" | "invalid_note" | "not_found" | "invalid_cursor",
    message: string,
  ) {
    super(message);
  }
}

export interface CreatedInvite {
  invite: Invite;
  token: string;
  url: string;
  /** null while the host does not offer in-band registration to apps (app_registration). */
  xmppUri: string | null;
}

export function inviteUrl(host: HostConfig, token: string): string {
  return `${host.publicUrl}${host.invitePath}?${token}`;
}
/**
 * The link an XMPP app registers with (XEP-0401): `xmpp:HOST?register;preauth=TOKEN`, or `xmpp:USER@HOST?...` for an
 * invite bound to a name or a reset invite, so the app fills in and locks the name, as Prosody's own links do.
 */
export function xmppUri(host: HostConfig, token: string, username: string | null): string {
  return `xmpp:${username ? `${encodeURIComponent(username)}@` : ""}${host.name}?register;preauth=${token}`;
}

/** xmppUri, or null while this host does not offer in-band registration to apps (app_registration). */
export function offeredXmppUri(ctx: AppContext, host: HostConfig, token: string, username: string | null, now = Date.now()): string | null {
  return appRegistrationOffered(ctx, host, now) ? xmppUri(host, token, username) : null;
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
  let username: string | null = null;
  if (input.username) {
    username = normaliseUsername(input.username);
    // A reset invite names an existing account, which may predate today's rules: the write job looks it up.
    const problem = kind === "reset" ? (input.username.length > 4 * input.host.usernameMaxLength + 16 ? "too_long" : null) : checkUsername(username, input.host);
    if (problem) throw new InviteError("invalid_username", usernameProblemMessage(problem, input.host));
  }
  const groups = checkLabels("group", input.groups ?? []);
  const roles = checkLabels("role", input.roles ?? []);
  // `admin` is granted only by `invited user role add` or an admin in the console, never by an invite (so not by a key).
  if (roles.some(isAdminRole)) throw new InviteError("invalid_label", "an invite cannot carry the role 'admin' (grant it with `invited user role add`)");
  const note = input.note ?? null;
  // isWellFormed: a lone UTF-16 surrogate would be stored as U+FFFD, so the note echoed back would not be the one kept.
  if (note !== null && (note.length > 1000 || /[\x00-\x08\x0b-\x1f\x7f]/.test(note) || !note.isWellFormed()))
    throw new InviteError("invalid_note", "note must be at most 1000 characters without control characters or lone surrogates");
  return { kind, ttl, maxUses, username, groups, roles, note };
}

/** Group and role names: 1–64 characters, no whitespace or control characters; at most 32 of each. */
function checkLabels(what: "group" | "role", values: string[]): string[] {
  if (values.length > 32) throw new InviteError("invalid_label", `at most 32 ${what}s`);
  for (const v of values) {
    if (typeof v !== "string" || v.length === 0 || v.length > 64 || /[\s\p{C}]/u.test(v))
      throw new InviteError("invalid_label", `${what} names must be 1-64 characters without spaces or control characters`);
  }
  return [...new Set(values)];
}

/**
 * Creates an invite and its audit event in one transaction and returns the one-time token. The token (128 random
 * bits) is not stored, only its SHA-256, so the URL can be shown exactly once.
 */
export async function createInvite(ctx: AppContext, origin: Origin, input: CreateInviteInput): Promise<CreatedInvite> {
  const resolved = resolveInviteOptions(input);
  const { invite, token } = await ctx.db.write(() => {
    // In the transaction, so the rules hold for the CLI and the API alike, even against a concurrent `user delete`
    // or registration. A reset invite carries the account's stored name; a bound account invite reserves its name.
    const now = Date.now();
    let bound = resolved.username;
    if (resolved.kind === "reset") {
      bound = findAccount(ctx, input.host.name, input.username!)?.username ?? null;
      if (bound === null) throw new InviteError("account_missing", `no account '${resolved.username}' on ${input.host.name}`);
    } else if (bound !== null) {
      const conflict = usernameConflictTx(ctx, input.host.name, bound, null, now);
      if (conflict) throw new InviteError("username_taken", CONFLICT_MESSAGES[conflict](bound, input.host.name));
    }
    return insertInviteTx(ctx, origin, input, { ...resolved, username: bound }, now);
  });
  metrics.invitesCreated.inc({ host: input.host.name });
  return { invite, token, url: inviteUrl(input.host, token), xmppUri: offeredXmppUri(ctx, input.host, token, invite.username) };
}

const CONFLICT_MESSAGES: Record<UsernameConflict, (name: string, host: string) => string> = {
  taken: (name, host) => `an account '${name}' already exists on ${host} (to let its owner set a new password, create a reset invite)`,
  confusable: (name, host) => `'${name}' looks like an existing account's name on ${host} (same confusable skeleton)`,
  bound: (name, host) => `'${name}' (or a look-alike) is already reserved by another open invite on ${host}; revoke that invite first`,
};

/**
 * Inside the caller's write job: inserts the invite and its `invite.created` event, and returns the one-time token.
 * `resolved` comes from resolveInviteOptions. A member's invite (created by `account/<user>@<host>`) is recorded
 * under that member, so it shows in their own activity.
 */
export function insertInviteTx(ctx: AppContext, origin: Origin, input: CreateInviteInput, resolved: ReturnType<typeof resolveInviteOptions>, now: number): { invite: Invite; token: string } {
  const { kind, ttl, maxUses, username, groups, roles, note } = resolved;
  const id = sortableId(now);
  const token = id + randomToken(16); // 128 bits from the CSPRNG after the id
  // The full row is known here, so no RETURNING round trip is needed.
  const row: Invite = {
    id,
    host: input.host.name,
    kind,
    tokenHash: hashToken(token),
    username,
    groups: JSON.stringify(groups),
    roles: JSON.stringify(roles),
    note,
    createdAt: now,
    expiresAt: now + ttl,
    maxUses,
    uses: 0,
    reserved: 0,
    revokedAt: null,
    createdBy: input.createdBy,
    data: "{}",
    skeleton: kind === "account" && username !== null ? usernameSkeleton(username) : null,
  };
  insertInvite(ctx.db)(row);
  const member = input.createdBy.startsWith("account/") ? input.createdBy.slice(8, input.createdBy.lastIndexOf("@")) : "";
  recordEvent(
    ctx,
    origin,
    { type: "invite.created", host: input.host.name, user: kind === "reset" ? (username ?? "") : member, details: { invite_id: row.id, kind, max_uses: maxUses, expires_at: row.expiresAt, created_by: input.createdBy } },
    now,
  );
  return { invite: row, token };
}

// A plain prepared statement on the hottest write (measured ~1.5 µs less per row than drizzle's placeholder
// mapping). The column list mirrors schema.ts.
const insertInvite = perDb((db) => {
  const stmt = db.sqlite.prepare(
    "INSERT INTO invites (id, host, kind, token_hash, username, groups, roles, note, created_at, expires_at, max_uses, uses, reserved, revoked_at, created_by, data, skeleton) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  return (r: Invite) =>
    stmt.run(r.id, r.host, r.kind, r.tokenHash, r.username, r.groups, r.roles, r.note, r.createdAt, r.expiresAt, r.maxUses, r.uses, r.reserved, r.revokedAt, r.createdBy, r.data, r.skeleton);
});

export function inviteStatus(invite: Invite, now = Date.now()): InviteStatus {
  if (invite.revokedAt !== null) return "revoked";
  if (invite.maxUses !== null && invite.uses >= invite.maxUses) return "used";
  if (now >= invite.expiresAt) return "expired";
  return "active";
}

const INVITE_TOKEN_RE = /^[0-9A-Za-z]{12}[A-Za-z0-9_-]{22}$/;

/**
 * Looks an invite up by its token: the first 12 characters are the id (primary-key lookup), and the hash of the
 * whole token must match in constant time. Junk tokens never reach the database.
 */
export function findInviteByToken(ctx: AppContext, token: string | null | undefined): Invite | null {
  if (!token || !INVITE_TOKEN_RE.test(token)) return null;
  const row = findById(ctx.db).get({ id: token.slice(0, 12) });
  return row && digestsEqual(hashToken(token), row.tokenHash) ? row : null;
}
const findById = perDb((db) => db.orm.select().from(invites).where(eq(invites.id, sql.placeholder("id"))).prepare());

export function getInviteById(ctx: AppContext, id: string): Invite | null {
  return findById(ctx.db).get({ id }) ?? null;
}

export function getInvite(ctx: AppContext, host: string, id: string): Invite | null {
  return ctx.db.orm.select().from(invites).where(and(eq(invites.host, host), eq(invites.id, id))).get() ?? null;
}

export function listRedemptions(ctx: AppContext, inviteId: string): Redemption[] {
  return ctx.db.orm.select().from(redemptions).where(eq(redemptions.inviteId, inviteId)).orderBy(redemptions.id).all();
}

/** SQL condition for each status, matching inviteStatus() (revoked, then used up, then expired). */
function statusCondition(status: InviteStatus, now: number) {
  const notRevoked = sql`${invites.revokedAt} IS NULL`;
  const usedUp = sql`(${invites.maxUses} IS NOT NULL AND ${invites.uses} >= ${invites.maxUses})`;
  switch (status) {
    case "revoked":
      return sql`${invites.revokedAt} IS NOT NULL`;
    case "used":
      return sql`${notRevoked} AND ${usedUp}`;
    case "expired":
      return sql`${notRevoked} AND NOT ${usedUp} AND ${invites.expiresAt} <= ${now}`;
    case "active":
      return sql`${notRevoked} AND NOT ${usedUp} AND ${invites.expiresAt} > ${now}`;
  }
}

export interface ListInvitesOptions {
  status?: InviteStatus;
  kind?: InviteKind;
  /** Who made them: the CLI, an API key, a member (their account page), or an admin in the console. */
  creator?: InviteCreatorKind;
  limit?: number;
  /** Opaque cursor from a previous page's `next`. */
  cursor?: string | null;
}

export type InviteCreatorKind = "cli" | "key" | "member" | "console";

/** The created_by prefix of each kind of creator (see the invites schema). */
const CREATOR_PREFIX: Record<InviteCreatorKind, string> = { cli: "cli", key: "api/", member: "account/", console: "console/" };

/** The created_by of an invite an admin makes in the console. */
export function consoleCreator(host: string, username: string): string {
  return `console/${username}@${host}`;
}

export function encodeCursor(invite: Pick<Invite, "createdAt" | "id">): string {
  return Buffer.from(`${invite.createdAt}:${invite.id}`).toString("base64url");
}
function decodeCursor(cursor: string): { createdAt: number; id: string } | null {
  const m = /^(\d{1,16}):([A-Za-z0-9_-]{1,64})$/.exec(Buffer.from(cursor, "base64url").toString());
  return m ? { createdAt: Number(m[1]), id: m[2]! } : null;
}

/**
 * Newest first, keyset-paginated on (created_at, id): invites created while a client pages through never shift or
 * repeat entries on later pages. Returns `next` when more rows may follow.
 */
export function listInvites(ctx: AppContext, host: string, options: ListInvitesOptions = {}, now = Date.now()): { invites: Invite[]; next: string | null } {
  const limit = Math.min(Math.max(options.limit ?? 50, 1), 1000);
  const conditions = [eq(invites.host, host)];
  if (options.status) conditions.push(statusCondition(options.status, now));
  if (options.kind) conditions.push(eq(invites.kind, options.kind));
  if (options.creator === "cli") conditions.push(eq(invites.createdBy, "cli"));
  else if (options.creator) conditions.push(sql`substr(${invites.createdBy}, 1, ${CREATOR_PREFIX[options.creator].length}) = ${CREATOR_PREFIX[options.creator]}`);
  if (options.cursor) {
    const c = decodeCursor(options.cursor);
    if (!c) throw new InviteError("invalid_cursor", "invalid cursor");
    conditions.push(sql`(${invites.createdAt} < ${c.createdAt} OR (${invites.createdAt} = ${c.createdAt} AND ${invites.id} < ${c.id}))`);
  }
  const rows = ctx.db.orm
    .select()
    .from(invites)
    .where(and(...conditions))
    .orderBy(desc(invites.createdAt), desc(invites.id))
    .limit(limit + 1)
    .all();
  const page = rows.slice(0, limit);
  return { invites: page, next: rows.length > limit ? encodeCursor(page[page.length - 1]!) : null };
}

/** Revokes an invite. Idempotent: revoking a revoked invite succeeds and changes nothing. Null if not found. */
export async function revokeInvite(ctx: AppContext, origin: Origin, host: string, id: string): Promise<Invite | null> {
  return ctx.db.write(() => {
    const now = Date.now();
    const updated = ctx.db.orm
      .update(invites)
      .set({ revokedAt: now })
      .where(and(eq(invites.host, host), eq(invites.id, id), sql`${invites.revokedAt} IS NULL`))
      .returning()
      .get();
    if (updated) {
      recordEvent(ctx, origin, { type: "invite.revoked", host, details: { invite_id: id } }, now);
      return updated;
    }
    return getInvite(ctx, host, id);
  });
}

export type ClaimFailure = "unknown" | "expired" | "used" | "revoked";

/**
 * Takes one use of the invite with this token, inside the caller's write transaction. The conditions live in the
 * UPDATE itself (not revoked, not expired, uses + reserved < max_uses), so concurrent claims can never over-use an
 * invite. On failure nothing is written and the reason is returned.
 */
export function claimInviteUseTx(ctx: AppContext, token: string, now = Date.now(), mode: "use" | "reserve" = "use"): { ok: true; invite: Invite } | { ok: false; reason: ClaimFailure; invite: Invite | null } {
  const found = findInviteByToken(ctx, token); // the token never changes, so checking it first cannot race
  if (!found) return { ok: false, reason: "unknown", invite: null };
  const column = mode === "use" ? invites.uses : invites.reserved;
  const claimed = ctx.db.orm
    .update(invites)
    .set({ [mode === "use" ? "uses" : "reserved"]: sql`${column} + 1` })
    .where(
      and(
        eq(invites.id, found.id),
        sql`${invites.revokedAt} IS NULL`,
        sql`${invites.expiresAt} > ${now}`,
        sql`(${invites.maxUses} IS NULL OR ${invites.uses} + ${invites.reserved} < ${invites.maxUses})`,
      ),
    )
    .returning()
    .get();
  if (claimed) return { ok: true, invite: claimed };
  const invite = findInviteByToken(ctx, token);
  if (!invite) return { ok: false, reason: "unknown", invite: null };
  const status = inviteStatus(invite, now);
  return { ok: false, reason: status === "active" ? "used" : status, invite }; // active but full of reservations
}

/** Turns a reservation into a use (provider succeeded) or gives it back (provider failed). Inside a write job. */
export function settleReservationTx(ctx: AppContext, inviteId: string, outcome: "consume" | "release"): void {
  ctx.db.orm
    .update(invites)
    .set(outcome === "consume" ? { reserved: sql`${invites.reserved} - 1`, uses: sql`${invites.uses} + 1` } : { reserved: sql`${invites.reserved} - 1` })
    .where(and(eq(invites.id, inviteId), sql`${invites.reserved} > 0`))
    .run();
}

/**
 * Counts a use that already happened downstream, inside a write job, whatever the invite's state: an XMPP server
 * created the account on a reservation that expired before its commit arrived, so the use is real either way.
 */
export function countUseTx(ctx: AppContext, inviteId: string): void {
  ctx.db.orm.update(invites).set({ uses: sql`${invites.uses} + 1` }).where(eq(invites.id, inviteId)).run();
}

/** Where a redemption came from: the registration page, the JSON API, or the XMPP server (mod_invited). */
export type RedemptionSource = "web" | "api" | "xmpp";

/** Appends to the redemption ledger. Inside the same write job as the claim. */
export function recordRedemptionTx(ctx: AppContext, invite: Invite, username: string, source: RedemptionSource, now = Date.now()): void {
  ctx.db.orm
    .insert(redemptions)
    .values({ inviteId: invite.id, host: invite.host, username, kind: invite.kind, usedAt: now, inviteCreatedBy: invite.createdBy, source })
    .run();
}

export type RedeemResult =
  | { ok: true; invite: Invite; username: string }
  | { ok: false; reason: ClaimFailure | "username_mismatch" | "username_taken" }
  | { ok: false; reason: "invalid_username"; message: string };

/**
 * Claims one use for a downstream server that validates the tokens its own clients bring (POST /api/v1/invites/redeem).
 * An account invite takes the username rules and the "name taken" check (accounts, look-alikes, names bound to
 * other open invites); a reset invite names its account, which may predate those rules. Claim, ledger row and
 * audit event commit together.
 */
export async function redeemInviteForDownstream(ctx: AppContext, origin: Origin, hostConfig: HostConfig, token: string, typed: string): Promise<RedeemResult> {
  const host = hostConfig.name;
  const result = await ctx.db.write((): RedeemResult => {
    const now = Date.now();
    const existing = findInviteByToken(ctx, token);
    if (!existing || existing.host !== host) return { ok: false, reason: "unknown" };
    let username = normaliseUsername(typed);
    if (existing.kind === "reset") {
      // The bound username never changes, so checking it before the claim cannot race.
      const account = existing.username;
      if (account && account !== username && account !== findAccount(ctx, host, typed)?.username) return { ok: false, reason: "username_mismatch" };
      username = account ?? username;
    } else {
      const problem = checkUsername(username, hostConfig);
      if (problem) return { ok: false, reason: "invalid_username", message: usernameProblemMessage(problem, hostConfig) };
      if (existing.username && existing.username !== username) return { ok: false, reason: "username_mismatch" };
      if (usernameConflictTx(ctx, host, username, existing.id, now)) return { ok: false, reason: "username_taken" };
    }
    const claim = claimInviteUseTx(ctx, token, now);
    if (!claim.ok) return { ok: false, reason: claim.reason };
    recordRedemptionTx(ctx, claim.invite, username, "api", now);
    recordEvent(ctx, origin, { type: "invite.used", host, user: username, details: { invite_id: claim.invite.id, kind: claim.invite.kind, downstream: true } }, now);
    return { ok: true, invite: claim.invite, username };
  });
  if (result.ok) metrics.invitesRedeemed.inc({ host }); // after the commit: a write job may run twice
  return result;
}

/** The groups or roles column of an invite or account (a JSON list of strings). */
export function parseLabels(json: string): string[] {
  try {
    const v = JSON.parse(json);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}

/** How many of a host's invites are open (not revoked, not used up, not expired). */
export function countOpenInvites(ctx: AppContext, host: string, now = Date.now()): number {
  // Spelt as the partial index invites_host_open states it, so the count walks only unexpired, unrevoked rows.
  return (
    ctx.db.sqlite
      .query("SELECT count(*) AS n FROM invites WHERE host = ?1 AND revoked_at IS NULL AND expires_at > ?2 AND (max_uses IS NULL OR uses < max_uses)")
      .get(host, now) as { n: number }
  ).n;
}
