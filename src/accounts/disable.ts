import type { AppContext, Origin } from "../context.ts";
import { findAccount, normaliseUsername } from "./service.ts";
import { AccountStatusError, setAccountDisabledTx } from "./tree.ts";
import { endAllSessionsTx } from "../sessions/service.ts";
import { revokeInvitesByMemberTx } from "../invites/member-invites.ts";
import { actDownstream, DownstreamError } from "../provisioning/lifecycle.ts";
import type { LifecycleOperation } from "../provisioning/types.ts";

/** Whether to act on the real server too; localOnly changes only invited's record, on purpose. */
export interface StatusOptions {
  localOnly?: boolean;
}

/**
 * The real server first: throws DownstreamError (invited's record untouched, provision.failed written) when the
 * host's provider refuses, is down or cannot do it; AccountStatusError when there is no such account.
 */
async function downstreamFirst(ctx: AppContext, origin: Origin, host: string, username: string, op: LifecycleOperation, opts: StatusOptions): Promise<void> {
  const account = findAccount(ctx, host, username);
  if (!account) throw new AccountStatusError(`no account '${normaliseUsername(username)}' on ${host}`);
  const config = Object.hasOwn(ctx.config.hosts, host) ? ctx.config.hosts[host] : undefined;
  if (opts.localOnly || !config) return;
  const r = await actDownstream(ctx, origin, config, account.username, op);
  if (!r.ok) throw new DownstreamError(op, r.provider, r.failure);
}

export interface DisableOutcome {
  /** False when the account already was in that state. */
  changed: boolean;
  sessionsEnded: number;
  invitesRevoked: string[];
}

/**
 * Disables an account in one job: it can no longer sign in or invite, its sessions end, and its open invites are
 * revoked (so they stop working for good; enabling the account does not bring them back). The host's provider
 * disables the account on the real server first (see downstreamFirst). Throws AccountStatusError when there is no
 * such account.
 */
export async function disableAccount(ctx: AppContext, origin: Origin, host: string, username: string, reason: string | null = null, opts: StatusOptions = {}): Promise<DisableOutcome> {
  if (reason !== null && (reason.length > 200 || /[\x00-\x1f\x7f]/.test(reason))) throw new AccountStatusError("the reason must be at most 200 characters without control characters");
  await downstreamFirst(ctx, origin, host, username, "disable", opts);
  return ctx.db.write(() => {
    const now = Date.now();
    const name = findAccount(ctx, host, username)?.username ?? normaliseUsername(username);
    const changed = setAccountDisabledTx(ctx, origin, host, name, true, now, reason);
    const sessionsEnded = endAllSessionsTx(ctx, host, name);
    const invitesRevoked = revokeInvitesByMemberTx(ctx, origin, host, name, now);
    return { changed, sessionsEnded, invitesRevoked };
  });
}

/** Enables a disabled account again (sign-in and invites work again; revoked invites stay revoked), on the real server first. */
export async function enableAccount(ctx: AppContext, origin: Origin, host: string, username: string, opts: StatusOptions = {}): Promise<boolean> {
  await downstreamFirst(ctx, origin, host, username, "enable", opts);
  return ctx.db.write(() => setAccountDisabledTx(ctx, origin, host, username, false));
}
