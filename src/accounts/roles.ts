import { eq } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import { recordEvent } from "../audit/service.ts";
import { accounts } from "./schema.ts";
import { findAccount, type Account } from "./service.ts";

/**
 * An account's roles. `admin` administers the host in the console; it is granted only here (the `invited user role`
 * command and the console's accounts page both call these), never by an invite or a key.
 */

export const ADMIN_ROLE = "admin";

export class RoleError extends Error {}

function rolesOf(json: string): string[] {
  try {
    const v = JSON.parse(json);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  } catch {
    return [];
  }
}

/** Whether a role name means `admin` however it is spelt (case, compatibility forms, blanks around it). */
export function isAdminRole(role: string): boolean {
  return role.normalize("NFKC").trim().toLowerCase() === ADMIN_ROLE;
}

export function isAdmin(account: Pick<Account, "roles" | "disabledAt">): boolean {
  return account.disabledAt === null && rolesOf(account.roles).includes(ADMIN_ROLE);
}

export function accountRoles(account: Pick<Account, "roles">): string[] {
  return rolesOf(account.roles);
}

/** Same rule as invite roles: 1-64 characters, no blanks or control characters. */
function checkRole(role: string): string {
  if (role.length === 0 || role.length > 64 || /[\s\p{C}]/u.test(role)) throw new RoleError("role names must be 1-64 characters without spaces or control characters");
  return isAdminRole(role) ? ADMIN_ROLE : role;
}

/** Adds (`add`) or removes a role, in one write with its account.role_added / account.role_removed event. False: no change. */
export async function setAccountRole(ctx: AppContext, origin: Origin, host: string, username: string, role: string, add: boolean): Promise<boolean> {
  const name = checkRole(role);
  const found = findAccount(ctx, host, username);
  if (!found) throw new RoleError(`no account '${username}' on ${host}`);
  return ctx.db.write(() => {
    const row = ctx.db.orm.select({ roles: accounts.roles }).from(accounts).where(eq(accounts.id, found.id)).get();
    if (!row) throw new RoleError(`no account '${username}' on ${host}`);
    const roles = rolesOf(row.roles);
    const has = roles.includes(name);
    if (has === add) return false;
    const next = add ? [...roles, name] : roles.filter((r) => r !== name);
    ctx.db.orm.update(accounts).set({ roles: JSON.stringify(next) }).where(eq(accounts.id, found.id)).run();
    recordEvent(ctx, origin, { type: add ? "account.role_added" : "account.role_removed", host, user: found.username, details: { role: name, roles: next } });
    return true;
  });
}
