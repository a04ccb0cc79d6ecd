import { and, eq } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { accounts } from "./schema.ts";
import { recordEvent } from "../audit/service.ts";

export type Account = typeof accounts.$inferSelect;

export type UsernameProblem = "empty" | "too_long" | "forbidden_characters" | "leading_dash";

/** NFKC then lower case, so look-alike forms of one name map to one account. */
export function normaliseUsername(input: string): string {
  return input.normalize("NFKC").toLowerCase();
}

/**
 * Checks a normalised username: no whitespace/control characters or any of @ / : " ' & < >, and not too long.
 * U+FFFD is refused too: it is what undecodable bytes in a form turn into.
 */
export function checkUsername(username: string, host: Pick<HostConfig, "usernameMaxLength" | "provision">): UsernameProblem | null {
  if (username.length === 0) return "empty";
  if ([...username].length > host.usernameMaxLength) return "too_long";
  if (/[\s\p{C}\uFFFD@\/:"'&<>]/u.test(username)) return "forbidden_characters";
  // A command provider puts the name into argv, where a leading "-" could be taken for an option. Checked here so
  // an invite bound to such a name cannot be made (by the API or the CLI) only to fail at registration.
  if (host.provision.type === "command" && username.startsWith("-")) return "leading_dash";
  return null;
}

const USERNAME_PROBLEMS: Record<UsernameProblem, string> = {
  empty: "is empty",
  too_long: "is too long",
  forbidden_characters: "contains spaces or forbidden characters (@ / : \" ' & < >)",
  leading_dash: "must not start with '-' on this host (its accounts are created by a command)",
};

/** What checkUsername found, as one sentence for the CLI and the API ("username is too long"). */
export function usernameProblemMessage(problem: UsernameProblem): string {
  return `username ${USERNAME_PROBLEMS[problem]}`;
}

export type PasswordProblem = "too_short" | "contains_username" | "too_long" | "forbidden_characters";

/** At least password_min_length characters, at most 1024, no control characters, and not containing the username. */
export function checkPassword(password: string, username: string, host: Pick<HostConfig, "passwordMinLength">): PasswordProblem | null {
  if (password.length > 1024) return "too_long";
  if (/[\x00-\x1f\x7f]/.test(password)) return "forbidden_characters";
  if ([...password].length < host.passwordMinLength) return "too_short";
  if (username && normaliseUsername(password).includes(normaliseUsername(username))) return "contains_username";
  return null;
}

/** argon2id via Bun.password; async so the server keeps answering while it hashes (~100 ms). */
export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: "argon2id" });
}

export function findAccount(ctx: AppContext, host: string, username: string): Account | null {
  return ctx.db.orm.select().from(accounts).where(and(eq(accounts.host, host), eq(accounts.username, normaliseUsername(username)))).get() ?? null;
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
  const name = normaliseUsername(username);
  return ctx.db.write(() => {
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
