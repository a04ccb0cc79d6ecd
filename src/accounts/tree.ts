import { and, eq, isNotNull, isNull } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import { accounts } from "./schema.ts";
import { findAccount, listAccounts, normaliseUsername, type Account } from "./service.ts";
import { recordEvent } from "../audit/service.ts";

/**
 * The invite tree: who invited whom. A member's invite is created by `account/<user>@<host>`, and an account made
 * with it keeps that creator in invited_by, so each member answers for the people they invited. Invites made by the
 * CLI (`cli`) or an API key (`api/token/ID`) start a tree of their own.
 */

/** The creator string of invites a member makes. */
export function memberCreator(host: string, username: string): string {
  return `account/${username}@${host}`;
}

/** The member behind a creator string, or null when the CLI, a key or nothing made the invite. */
export function memberOfCreator(createdBy: string | null | undefined): { username: string; host: string } | null {
  if (!createdBy?.startsWith("account/")) return null;
  const rest = createdBy.slice("account/".length);
  const at = rest.lastIndexOf("@");
  return at > 0 ? { username: rest.slice(0, at), host: rest.slice(at + 1) } : null;
}

export interface AccountProfile {
  account: Account;
  /** The inviting member's username, or null when the CLI or a key made the invite (or there was none). */
  invitedBy: string | null;
  /** The raw creator of the invite the account was made with (`cli`, `api/token/ID`, `account/...`), or null. */
  inviteCreator: string | null;
  /** Accounts made with this member's invites, oldest first. */
  invitees: Account[];
}

export function invitees(ctx: AppContext, host: string, username: string): Account[] {
  return ctx.db.orm
    .select()
    .from(accounts)
    .where(and(eq(accounts.host, host), eq(accounts.invitedBy, memberCreator(host, username))))
    .orderBy(accounts.createdAt, accounts.id)
    .all();
}

export function accountProfile(ctx: AppContext, host: string, username: string): AccountProfile | null {
  const account = findAccount(ctx, host, username);
  if (!account) return null;
  const inviter = memberOfCreator(account.invitedBy);
  return {
    account,
    invitedBy: inviter && inviter.host === host ? inviter.username : null,
    inviteCreator: account.invitedBy,
    invitees: invitees(ctx, host, account.username),
  };
}

export interface TreeNode {
  account: Account;
  /** The raw creator of its invite. */
  inviteCreator: string | null;
  children: TreeNode[];
}

/**
 * The tree below `root` (one member), or the whole host: every account whose inviter is not a member of this host
 * (CLI, API key, no invite, or a deleted member) is a root. Built from one read of the host's accounts.
 */
export function inviteTree(ctx: AppContext, host: string, root: string | null = null): TreeNode[] | null {
  const all = listAccounts(ctx, host);
  const byName = new Map(all.map((a) => [a.username, a]));
  const children = new Map<string, Account[]>();
  for (const a of all) {
    const inviter = memberOfCreator(a.invitedBy);
    if (inviter && inviter.host === host && byName.has(inviter.username) && inviter.username !== a.username) {
      const list = children.get(inviter.username) ?? [];
      list.push(a);
      children.set(inviter.username, list);
    }
  }
  const seen = new Set<string>();
  const build = (a: Account): TreeNode => {
    seen.add(a.username);
    const kids = (children.get(a.username) ?? []).filter((c) => !seen.has(c.username)).sort((x, y) => x.createdAt - y.createdAt || x.id - y.id);
    return { account: a, inviteCreator: a.invitedBy, children: kids.map(build) };
  };
  if (root !== null) {
    const start = byName.get(normaliseUsername(root));
    return start ? [build(start)] : null;
  }
  const roots = all.filter((a) => {
    const inviter = memberOfCreator(a.invitedBy);
    return !(inviter && inviter.host === host && byName.has(inviter.username) && inviter.username !== a.username);
  });
  return roots.sort((x, y) => x.createdAt - y.createdAt || x.id - y.id).map(build);
}

export class AccountStatusError extends Error {}

/**
 * Sets or clears disabled_at, audited as account.disabled / account.enabled, inside the caller's job (the caller ends
 * the sessions and revokes the invites in the same job). False when it already was in that state.
 */
export function setAccountDisabledTx(ctx: AppContext, origin: Origin, host: string, username: string, disabled: boolean, now = Date.now(), reason: string | null = null): boolean {
  const account = findAccount(ctx, host, username);
  if (!account) throw new AccountStatusError(`no account '${normaliseUsername(username)}' on ${host}`);
  const name = account.username; // as stored, which for an old account may differ from today's normal form
  const changed = ctx.db.orm
    .update(accounts)
    .set({ disabledAt: disabled ? now : null })
    .where(and(eq(accounts.host, host), eq(accounts.username, name), disabled ? isNull(accounts.disabledAt) : isNotNull(accounts.disabledAt)))
    .returning({ id: accounts.id, disabledAt: accounts.disabledAt })
    .get();
  if (!changed) return false;
  recordEvent(ctx, origin, { type: disabled ? "account.disabled" : "account.enabled", host, user: name, details: reason ? { reason } : {} }, now);
  return true;
}
