import type { AppContext, Origin } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { recordEvent } from "../audit/service.ts";
import { checkPassword, findAccount, hashPassword, setPasswordTx, type PasswordProblem } from "./service.ts";
import { checkPasswordWhereItLives } from "../sessions/signin.ts";
import { deleteAccountEverywhere } from "../provisioning/lifecycle.ts";
import { endAllSessionsTx } from "../sessions/service.ts";
import { hashQueueFor } from "../limits/registration.ts";
import { reserveThenChangePassword } from "../provisioning/service.ts";
import { metrics } from "../metrics/index.ts";

/**
 * A signed-in member changes their own password, or deletes their account. The current password is asked again and
 * checked where it lives; the new one follows the registration policy (checkPassword); with a provider the change
 * goes through its reset path (reserveThenChangePassword), and invited's own hash only when it keeps one.
 */

export type ChangePasswordRefusal =
  | PasswordProblem
  | "missing"
  | "mismatch"
  | "wrong_password"
  /** The password lives downstream and invited has no way to change it (no provider, sign-in elsewhere). */
  | "not_here"
  | "busy"
  | "unavailable"
  | "provision_failed";

export type ChangePasswordResult = { ok: true; sessionsEnded: number } | { ok: false; reason: ChangePasswordRefusal };

export interface ChangePasswordInput {
  current: string;
  next: string;
  /** The form's repeat field; checked when given. */
  confirm?: string | null;
  /** This browser's session stays; every other one ends. */
  keepSession: number | null;
}

/** Whether this host lets members change their password here. */
export function passwordChangeable(host: HostConfig): boolean {
  return host.provision.type !== "none" || host.signin.type === "local";
}

export async function changePassword(ctx: AppContext, origin: Origin, host: HostConfig, username: string, input: ChangePasswordInput): Promise<ChangePasswordResult> {
  if (!passwordChangeable(host)) return { ok: false, reason: "not_here" };
  if (!input.current || !input.next) return { ok: false, reason: "missing" };
  if (input.confirm !== undefined && input.confirm !== null && input.confirm !== input.next) return { ok: false, reason: "mismatch" };
  const problem = checkPassword(input.next, username, host);
  if (problem) return { ok: false, reason: problem };
  const account = findAccount(ctx, host.name, username);
  if (!account) return { ok: false, reason: "wrong_password" };
  const verdict = await checkPasswordWhereItLives(ctx, host, username, input.current, account);
  if (verdict === "invalid") return { ok: false, reason: "wrong_password" };
  if (verdict !== "valid") return { ok: false, reason: verdict };

  const keepHash = host.provision.type === "none" || host.provision.keepPassword;
  const ticket = keepHash ? hashQueueFor(ctx).admit() : null;
  if (keepHash && !ticket) return { ok: false, reason: "busy" };
  let hash: string | null = null;
  const hashNow = async () => {
    hash = await ticket!.run(() => hashPassword(input.next));
    metrics.passwordHashes.inc();
  };
  const complete = (now: number) => {
    setPasswordTx(ctx, host.name, account.username, hash);
    const ended = endAllSessionsTx(ctx, host.name, account.username, input.keepSession);
    recordEvent(ctx, origin, { type: "account.password_changed", host: host.name, user: account.username, details: { sessions_ended: ended, provider: host.provision.type } }, now);
    return ended;
  };
  try {
    if (host.provision.type === "none") {
      await hashNow();
      const ended = await ctx.db.write(() => complete(Date.now()));
      return { ok: true, sessionsEnded: ended };
    }
    const flow = await reserveThenChangePassword(ctx, origin, host, account.username, input.next, { prepare: keepHash ? hashNow : undefined, complete });
    return flow.ok ? { ok: true, sessionsEnded: flow.value } : { ok: false, reason: flow.reason };
  } finally {
    ticket?.cancel();
  }
}

export type DeleteRefusal = "missing" | "wrong_password" | "downstream_failed" | "busy" | "unavailable";

/**
 * Deletes the member's own account after the password is given again (checked where it lives): on the real server
 * first, through the host's provider, then invited's record, then the member's sessions. If the real server refuses
 * or is down, nothing is deleted (downstream_failed; provision.failed is in the audit log).
 */
export async function deleteOwnAccount(ctx: AppContext, origin: Origin, host: HostConfig, username: string, password: string): Promise<{ ok: true } | { ok: false; reason: DeleteRefusal }> {
  if (!password) return { ok: false, reason: "missing" };
  const account = findAccount(ctx, host.name, username);
  const verdict = await checkPasswordWhereItLives(ctx, host, username, password, account);
  if (verdict === "invalid") return { ok: false, reason: "wrong_password" };
  if (verdict !== "valid") return { ok: false, reason: verdict };
  const deleted = await deleteAccountEverywhere(ctx, origin, host, username);
  if (!deleted.ok) return { ok: false, reason: deleted.reason === "not_found" ? "wrong_password" : "downstream_failed" };
  await ctx.db.write(() => endAllSessionsTx(ctx, host.name, deleted.username));
  return { ok: true };
}
