import type { AppContext, Origin } from "../context.ts";
import { findAccount, normaliseUsername } from "./service.ts";
import { AccountStatusError, setAccountDisabledTx } from "./tree.ts";
import { endAllSessionsTx } from "../sessions/service.ts";
import { revokeInvitesByMemberTx } from "../invites/member-invites.ts";

export interface DisableOutcome {
  /** False when the account already was in that state. */
  changed: boolean;
  sessionsEnded: number;
  invitesRevoked: string[];
}

/**
 * Disables an account in one job: it can no longer sign in or invite, its sessions end, and its open invites are
 * revoked (so they stop working for good; enabling the account does not bring them back). Throws AccountStatusError
 * when there is no such account.
 */
export async function disableAccount(ctx: AppContext, origin: Origin, host: string, username: string, reason: string | null = null): Promise<DisableOutcome> {
  if (reason !== null && (reason.length > 200 || /[\x00-\x1f\x7f]/.test(reason))) throw new AccountStatusError("the reason must be at most 200 characters without control characters");
  return ctx.db.write(() => {
    const now = Date.now();
    const name = findAccount(ctx, host, username)?.username ?? normaliseUsername(username);
    const changed = setAccountDisabledTx(ctx, origin, host, name, true, now, reason);
    const sessionsEnded = endAllSessionsTx(ctx, host, name);
    const invitesRevoked = revokeInvitesByMemberTx(ctx, origin, host, name, now);
    return { changed, sessionsEnded, invitesRevoked };
  });
}

/** Enables a disabled account again (sign-in and invites work again; revoked invites stay revoked). */
export async function enableAccount(ctx: AppContext, origin: Origin, host: string, username: string): Promise<boolean> {
  return ctx.db.write(() => setAccountDisabledTx(ctx, origin, host, username, false));
}
