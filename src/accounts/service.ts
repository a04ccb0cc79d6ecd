import { and, eq, isNull, ne, sql } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { accounts } from "./schema.ts";
import { invites } from "../invites/schema.ts";
import { recordEvent } from "../audit/service.ts";
import { legacyNormaliseUsername, normaliseUsername, usernameSkeleton } from "./username.ts";

export type Account = typeof accounts.$inferSelect;

export {
  checkUsername,
  normaliseUsername,
  showUsername,
  usernameProblemMessage,
  usernameSkeleton,
  type UsernameProblem,
} from "./username.ts";

export type PasswordProblem = "too_short" | "contains_username" | "too_long" | "forbidden_characters";

/**
 * At least password_min_length characters, at most 1024, no control characters, and not containing the username
 * (when it has 3 or more characters: "a" or "jo" inside a password says nothing about it).
 */
export function checkPassword(password: string, username: string, host: Pick<HostConfig, "passwordMinLength">): PasswordProblem | null {
  if (password.length > 1024) return "too_long";
  if (/[\x00-\x1f\x7f]/.test(password)) return "forbidden_characters";
  if ([...password].length < host.passwordMinLength) return "too_short";
  if ([...username].length >= 3 && normaliseUsername(password).includes(normaliseUsername(username))) return "contains_username";
  return null;
}

/** argon2id via Bun.password; async so the server keeps answering while it hashes (~100 ms). */
export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

/**
 * The account with this name: stored exactly so, or as the name normalises the current way, or else the way
 * accounts made before the PRECIS rules were (NFKC + lower case), so such accounts can still be reset and deleted.
 */
export function findAccount(ctx: AppContext, host: string, username: string): Account | null {
  const byName = (name: string) => ctx.db.orm.select().from(accounts).where(and(eq(accounts.host, host), eq(accounts.username, name))).get() ?? null;
  for (const name of new Set([username, normaliseUsername(username), legacyNormaliseUsername(username)])) {
    const found = byName(name);
    if (found) return found;
  }
  return null;
}

/** Why a name cannot be registered on a host although its format is fine. */
export type UsernameConflict = "taken" | "confusable" | "bound";

/**
 * Inside the caller's write job (or as an early read before it): whether `username` (normalised) is free on the
 * host. "taken": an account has this name; "confusable": an account has the same UTS #39 skeleton; "bound": an
 * open account invite (not revoked, not expired, uses left), other than `exceptInviteId`, is bound to this name or
 * a look-alike, which reserves it for that invite. When `exceptInviteId` is itself bound (to this name), other
 * bound invites do not block it: two invites bound to one name (made before this rule) must not lock each other out.
 */
export function usernameConflictTx(ctx: AppContext, hostName: string, username: string, exceptInviteId?: string | null, now = Date.now()): UsernameConflict | null {
  const skeleton = usernameSkeleton(username);
  // Two lookups, each on its own index (an OR of both would scan the host's accounts).
  const byName = ctx.db.orm.select({ id: accounts.id }).from(accounts).where(and(eq(accounts.host, hostName), eq(accounts.username, username))).get();
  if (byName) return "taken";
  const bySkeleton = ctx.db.orm.select({ id: accounts.id }).from(accounts).where(and(eq(accounts.skeleton, skeleton), eq(accounts.host, hostName))).limit(1).get();
  if (bySkeleton) return "confusable";
  if (exceptInviteId && ctx.db.orm.select({ username: invites.username }).from(invites).where(eq(invites.id, exceptInviteId)).get()?.username) return null;
  const bound = ctx.db.orm
    .select({ id: invites.id })
    .from(invites)
    .where(
      and(
        eq(invites.host, hostName),
        eq(invites.skeleton, skeleton),
        eq(invites.kind, "account"),
        isNull(invites.revokedAt),
        sql`${invites.expiresAt} > ${now}`,
        sql`(${invites.maxUses} IS NULL OR ${invites.uses} < ${invites.maxUses})`,
        exceptInviteId ? ne(invites.id, exceptInviteId) : undefined,
      ),
    )
    .limit(1)
    .get();
  return bound ? "bound" : null;
}

/**
 * Fills the skeleton column of accounts and bound invites written by a build that had none. Runs at start-up; the
 * partial indexes make it one empty index probe once done. A skeleton exists for any string, so rows that break
 * today's rules get one too and keep working.
 */
export function backfillUsernameSkeletons(ctx: AppContext): number {
  const sqlite = ctx.db.sqlite;
  const accountRows = sqlite.query("SELECT id, username FROM accounts WHERE skeleton IS NULL").all() as { id: number; username: string }[];
  const inviteRows = sqlite.query("SELECT id, username FROM invites WHERE kind = 'account' AND username IS NOT NULL AND skeleton IS NULL").all() as { id: string; username: string }[];
  if (accountRows.length === 0 && inviteRows.length === 0) return 0;
  const setAccount = sqlite.prepare("UPDATE accounts SET skeleton = ? WHERE id = ? AND skeleton IS NULL");
  const setInvite = sqlite.prepare("UPDATE invites SET skeleton = ? WHERE id = ? AND skeleton IS NULL");
  sqlite.transaction(() => {
    for (const r of accountRows) setAccount.run(usernameSkeleton(r.username), r.id);
    for (const r of inviteRows) setInvite.run(usernameSkeleton(r.username), r.id);
  }).immediate();
  return accountRows.length + inviteRows.length;
}

export function listAccounts(ctx: AppContext, host: string): Account[] {
  return ctx.db.orm.select().from(accounts).where(eq(accounts.host, host)).orderBy(accounts.username).all();
}

export class AccountExistsError extends Error {
  constructor() {
    super("already in use");
  }
}

export interface NewAccount {
  host: string;
  username: string; // already normalised and checked
  passwordHash: string | null;
  roles: string[];
  groups: string[];
  inviteId: string | null;
  invitedBy: string | null;
}

/** Inserts an account inside the caller's write job; the unique index decides races on the name. */
export function createAccountTx(ctx: AppContext, input: NewAccount, now = Date.now()): Account {
  try {
    return ctx.db.orm
      .insert(accounts)
      .values({
        host: input.host,
        username: input.username,
        passwordHash: input.passwordHash,
        roles: JSON.stringify(input.roles),
        groups: JSON.stringify(input.groups),
        createdAt: now,
        inviteId: input.inviteId,
        invitedBy: input.invitedBy,
        skeleton: usernameSkeleton(input.username),
      })
      .returning()
      .get();
  } catch (e) {
    if (/UNIQUE constraint failed/i.test(String((e as Error).message))) throw new AccountExistsError();
    throw e;
  }
}

/** Sets a new password hash inside the caller's write job; false if the account does not exist. */
export function setPasswordTx(ctx: AppContext, host: string, username: string, passwordHash: string | null): boolean {
  const r = ctx.db.orm
    .update(accounts)
    .set({ passwordHash })
    .where(and(eq(accounts.host, host), eq(accounts.username, username)))
    .returning({ id: accounts.id })
    .get();
  return r !== undefined;
}

/** Deletes an account; its ledger rows stay. False if there was no such account. */
export async function deleteAccount(ctx: AppContext, origin: Origin, host: string, username: string): Promise<boolean> {
  return ctx.db.write(() => {
    const name = findAccount(ctx, host, username)?.username;
    if (name === undefined) return false;
    const gone = ctx.db.orm
      .delete(accounts)
      .where(and(eq(accounts.host, host), eq(accounts.username, name)))
      .returning({ id: accounts.id })
      .get();
    if (!gone) return false;
    recordEvent(ctx, origin, { type: "account.deleted", host, user: name });
    return true;
  });
}

/** How many accounts a host has, and how many were made on each UTC day since `since` (day = epoch ms of 00:00). */
export function accountCounts(ctx: AppContext, host: string, since: number): { total: number; perDay: Map<number, number> } {
  const total = (ctx.db.sqlite.query("SELECT count(*) AS n FROM accounts WHERE host = ?1").get(host) as { n: number }).n;
  const rows = ctx.db.sqlite
    .query("SELECT (created_at / 86400000) * 86400000 AS day, count(*) AS n FROM accounts WHERE host = ?1 AND created_at >= ?2 GROUP BY day")
    .all(host, since) as { day: number; n: number }[];
  return { total, perDay: new Map(rows.map((r) => [r.day, r.n])) };
}

/** Accounts whose name starts with `prefix` (normalised), in name order after `after`, at most `limit`. */
export function searchAccounts(ctx: AppContext, host: string, prefix: string, limit = 50, after: string | null = null): Account[] {
  const p = normaliseUsername(prefix).replace(/[%_\\]/g, (c) => `\\${c}`);
  return ctx.db.sqlite
    .query(`SELECT id, host, username, password_hash AS passwordHash, roles, groups, created_at AS createdAt, invite_id AS inviteId, invited_by AS invitedBy, skeleton, disabled_at AS disabledAt, totp_secret AS totpSecret, totp_last_step AS totpLastStep
      FROM accounts WHERE host = ?1 AND username LIKE ?2 ESCAPE '\\' AND username > ?3 ORDER BY username LIMIT ?4`)
    .all(host, `${p}%`, after ?? "", limit) as Account[];
}
