import type { AppContext, Origin } from "../context.ts";
import { getHost, type HostConfig } from "../config/index.ts";
import { recordEvent } from "../audit/service.ts";
import {
  AccountExistsError,
  checkPassword,
  checkUsername,
  createAccountTx,
  findAccount,
  hashPassword,
  normaliseUsername,
  setPasswordTx,
  usernameConflictTx,
  type Account,
  type UsernameProblem,
} from "../accounts/service.ts";
import { findInviteByToken, inviteStatus, parseLabels, recordRedemptionTx, type ClaimFailure, type Invite, type InviteKind } from "../invites/service.ts";
import { metrics } from "../metrics/index.ts";
import { reserveThenRecord } from "../provisioning/service.ts";
import { hashQueueFor, takeRegistrationAttempt } from "../limits/registration.ts";
import { CoalescedEvents } from "../audit/coalesce.ts";
import { onePer } from "../lib/memo.ts";
import { parseIp, truncateIp } from "../lib/ip.ts";

/** Why an attempt was refused. Codes go into the `registration.refused` audit event; they never carry the password. */
export type RefusalReason =
  | "invite_unknown"
  | "invite_expired"
  | "invite_used"
  | "invite_revoked"
  | "wrong_invite_kind"
  | "missing_username"
  | "missing_password"
  | "username_invalid"
  | "username_too_short"
  | "username_too_long"
  | "username_invisible"
  | "username_not_canonical"
  | "username_mixed_scripts"
  | "username_reserved"
  | "username_taken"
  | "username_not_allowed"
  | "password_too_short"
  | "password_too_long"
  | "password_contains_username"
  | "password_invalid"
  | "password_mismatch"
  | "account_missing"
  | "cross_site"
  | "malformed_request"
  // With a provider: every remaining use is held by a registration in flight, or the provider failed.
  | "invite_busy"
  | "provision_failed"
  // Over [limits] registration_rate for the client's network, or the hash queue is full: nothing was touched.
  | "throttled"
  | "server_busy";

export interface RegistrationInput {
  token: string;
  /** As typed. Optional for reset invites (their account is fixed); if given it must name that account. */
  username?: string | null;
  password: string;
  /** The form's "repeat password" field; only checked when the client sent it (scripts post user/password/token). */
  passwordConfirm?: string | null;
}

export type RegistrationResult =
  | { ok: true; kind: InviteKind; host: HostConfig; username: string; account: Account | null; invite: Invite }
  | { ok: false; reason: RefusalReason; invite: Invite | null; host: HostConfig | null; retryAfterMs?: number };

/** Everything checked before anything is held or hashed; the hash is filled in once the use is reserved. */
export interface RegistrationPlan {
  kind: InviteKind;
  host: HostConfig;
  token: string;
  username: string; // normalised
  /** Whether invited keeps a hash: false when a provider owns the password and keep_password is off. */
  keepHash: boolean;
  /** Set once hashed; null when keepHash is false. */
  passwordHash: string | null;
}

const DEAD: Record<ClaimFailure, RefusalReason> = { unknown: "invite_unknown", expired: "invite_expired", used: "invite_used", revoked: "invite_revoked" };

/** checkUsername's finding as a refusal reason (bidi, forbidden characters and a leading dash share one). */
export const USERNAME_REFUSALS: Record<UsernameProblem, RefusalReason> = {
  empty: "missing_username",
  too_short: "username_too_short",
  too_long: "username_too_long",
  invisible: "username_invisible",
  forbidden_characters: "username_invalid",
  not_canonical: "username_not_canonical",
  bidi: "username_invalid",
  mixed_scripts: "username_mixed_scripts",
  reserved: "username_reserved",
  leading_dash: "username_invalid",
};

/** A refusal caused by the token itself (the web answer is a 303 to the token's landing page). */
export function isDeadInvite(reason: RefusalReason): boolean {
  return reason === "invite_unknown" || reason === "invite_expired" || reason === "invite_used" || reason === "invite_revoked";
}

/** Thrown inside the write job to roll the claim back when the account to reset has gone meanwhile. */
class AccountMissingError extends Error {}

type Prepared = { ok: true; plan: RegistrationPlan; invite: Invite } | { ok: false; reason: RefusalReason; invite: Invite | null; host: HostConfig | null; username?: string };

/**
 * The cheap checks: token, username and password rules. Nothing is written or hashed. They only give early, precise
 * messages: the write jobs re-decide the invite (conditional reservation) and the name (reservation row, unique
 * index), so a race between here and there can never over-use an invite or duplicate an account.
 */
export function prepareRegistration(ctx: AppContext, input: RegistrationInput, kind: InviteKind, now = Date.now()): Prepared {
  const invite = findInviteByToken(ctx, input.token);
  const host = invite ? getHost(ctx.config, invite.host) : null;
  if (!invite || !host) return { ok: false, reason: "invite_unknown", invite: null, host: null };
  const status = inviteStatus(invite, now);
  if (status !== "active") return { ok: false, reason: DEAD[status], invite, host };
  if (invite.kind !== kind) return { ok: false, reason: "wrong_invite_kind", invite, host };
  const refuse = (reason: RefusalReason, username?: string): Prepared => ({ ok: false, reason, invite, host, username });

  const typed = input.username ?? "";
  let username: string;
  if (kind === "reset") {
    // The invite holds the account's stored name, which may predate today's username rules: used as it is.
    username = invite.username ?? "";
    if (typed !== "" && (typed.length > 4 * host.usernameMaxLength || findAccount(ctx, host.name, typed)?.username !== username)) return refuse("username_not_allowed");
    if (!findAccount(ctx, host.name, username)) return refuse("account_missing", username);
  } else {
    if (typed === "") return refuse("missing_username");
    // Normalising can only grow a string so much; a huge value is refused before normalising it.
    if (typed.length > 4 * host.usernameMaxLength + 16) return refuse("username_too_long");
    username = normaliseUsername(typed);
    const problem = checkUsername(username, host);
    if (problem) return refuse(USERNAME_REFUSALS[problem]);
    if (invite.username && invite.username !== username && normaliseUsername(invite.username) !== username) return refuse("username_not_allowed", username);
    // An early read for a precise message; the write job decides again.
    if (usernameConflictTx(ctx, host.name, username, invite.id, now)) return refuse("username_taken", username);
  }

  const password = input.password ?? "";
  if (password === "") return refuse("missing_password", username);
  if (input.passwordConfirm !== undefined && input.passwordConfirm !== null && input.passwordConfirm !== password) return refuse("password_mismatch", username);
  const passwordProblem = checkPassword(password, username, host);
  if (passwordProblem) {
    const reason = ({ too_short: "password_too_short", too_long: "password_too_long", contains_username: "password_contains_username", forbidden_characters: "password_invalid" } as const)[passwordProblem];
    return refuse(reason, username);
  }
  // With a provider the downstream server owns the password; invited keeps a hash only when asked to.
  const keepHash = host.provision.type === "none" || host.provision.keepPassword;
  return { ok: true, invite, plan: { kind, host, token: input.token, username, keepHash, passwordHash: null } };
}

/**
 * The account side of a redemption, for an invite whose use the same write job has already claimed: create the
 * account (or set the new password), append the ledger row and write the audit events. Throws AccountExistsError or
 * AccountMissingError so the job's savepoint rolls back the claim with it.
 *
 * Kept apart from the claim so the reserve-then-record flow can run (provisioning/service.ts): job 1 reserves the
 * use; the password is hashed and the downstream server provisioned outside any transaction; job 2 consumes the use
 * and calls this function (or releases the use).
 */
export function completeRegistrationTx(ctx: AppContext, requestOrigin: Origin, plan: RegistrationPlan, invite: Invite, now = Date.now()): Account | null {
  const source = requestOrigin.source === "api" || requestOrigin.source === "xmpp" ? requestOrigin.source : "web";
  // The person acting is the account being registered (or reset): the audit actor is that account.
  const origin: Origin = { ...requestOrigin, actor: requestOrigin.actor ?? `${plan.username}@${plan.host.name}` };
  let account: Account | null = null;
  if (plan.kind === "reset") {
    if (!setPasswordTx(ctx, plan.host.name, plan.username, plan.passwordHash)) throw new AccountMissingError();
  } else {
    account = createAccountTx(
      ctx,
      {
        host: plan.host.name,
        username: plan.username,
        passwordHash: plan.passwordHash,
        roles: parseLabels(invite.roles),
        groups: parseLabels(invite.groups),
        inviteId: invite.id,
        invitedBy: invite.createdBy,
      },
      now,
    );
  }
  recordRedemptionTx(ctx, invite, plan.username, source, now);
  recordEvent(ctx, origin, { type: "invite.used", host: plan.host.name, user: plan.username, details: { invite_id: invite.id, kind: invite.kind } }, now);
  if (plan.kind === "reset") {
    recordEvent(ctx, origin, { type: "account.password_reset", host: plan.host.name, user: plan.username, details: { invite_id: invite.id } }, now);
  } else {
    recordEvent(
      ctx,
      origin,
      {
        type: "account.registered",
        host: plan.host.name,
        user: plan.username,
        details: { invite_id: invite.id, invited_by: invite.createdBy, roles: parseLabels(invite.roles), groups: parseLabels(invite.groups) },
      },
      now,
    );
  }
  return account;
}

/**
 * The costly part, in this order: a hash-queue ticket (or 503 before anything is held), job 1 reserves a use and the
 * name, the password is hashed, the provider (if any) is called, job 2 consumes the use and records the account, or
 * releases it. So a one-use invite costs one hash however many requests race for it, and at most hash_concurrency
 * hashes run at once.
 */
async function reserveHashAndRecord(ctx: AppContext, origin: Origin, plan: RegistrationPlan, password: string): Promise<RegistrationResult> {
  const ticket = plan.keepHash ? hashQueueFor(ctx).admit() : null;
  if (plan.keepHash && ticket === null) {
    metrics.registrationsShed.inc();
    return { ok: false, reason: "server_busy", invite: null, host: plan.host };
  }
  let hashed: RegistrationPlan = plan;
  try {
    const flow = await reserveThenRecord(ctx, origin, plan, {
      password,
      prepare: ticket
        ? async () => {
            hashed = { ...plan, passwordHash: await ticket.run(() => hashPassword(password)) };
            metrics.passwordHashes.inc();
          }
        : undefined,
      complete: (invite, now) => {
        // The name or a look-alike may have been taken (or bound to another invite) by a path that holds no
        // reservation since job 1.
        if (plan.kind === "account" && usernameConflictTx(ctx, plan.host.name, plan.username, invite.id, now)) throw new AccountExistsError();
        return completeRegistrationTx(ctx, origin, hashed, invite, now);
      },
    });
    if (flow.ok) {
      metrics.invitesRedeemed.inc({ host: plan.host.name }); // after the commit: a write job may run twice
      return { ok: true, kind: plan.kind, host: plan.host, username: plan.username, account: flow.value, invite: flow.invite };
    }
    const reason: RefusalReason =
      flow.reason === "busy" ? "invite_busy" : flow.reason === "username_taken" || flow.reason === "account_missing" || flow.reason === "provision_failed" ? flow.reason : DEAD[flow.reason];
    return { ok: false, reason, invite: flow.invite, host: plan.host };
  } catch (e) {
    if (e instanceof AccountExistsError) return { ok: false, reason: "username_taken", invite: null, host: plan.host };
    if (e instanceof AccountMissingError) return { ok: false, reason: "account_missing", invite: null, host: plan.host };
    throw e;
  } finally {
    ticket?.cancel(); // a no-op once run; gives the place back when the reservation failed
  }
}

async function redeem(ctx: AppContext, origin: Origin, input: RegistrationInput, kind: InviteKind): Promise<RegistrationResult> {
  const prepared = prepareRegistration(ctx, input, kind);
  if (!prepared.ok) {
    await recordRefusal(ctx, origin, { reason: prepared.reason, invite: prepared.invite, username: prepared.username });
    return { ok: false, reason: prepared.reason, invite: prepared.invite, host: prepared.host };
  }
  const attempt = takeRegistrationAttempt(ctx, origin.ip);
  if (!attempt.ok) {
    metrics.registrationsThrottled.inc();
    await recordRefusal(ctx, origin, { reason: "throttled", invite: prepared.invite, username: prepared.plan.username });
    return { ok: false, reason: "throttled", invite: prepared.invite, host: prepared.plan.host, retryAfterMs: attempt.retryAfterMs };
  }
  const result = await reserveHashAndRecord(ctx, origin, prepared.plan, input.password);
  if (!result.ok) {
    if (result.reason === "provision_failed") return { ...result, invite: result.invite ?? prepared.invite }; // audited as provision.failed
    const invite = result.invite ?? prepared.invite;
    await recordRefusal(ctx, origin, { reason: result.reason, invite, username: prepared.plan.username });
    return { ...result, invite };
  }
  return result;
}

/** Creates an account with an account invite: validate, hash, then claim + account + ledger + audit in one job. */
export function registerWithInvite(ctx: AppContext, origin: Origin, input: RegistrationInput): Promise<RegistrationResult> {
  return redeem(ctx, origin, input, "account");
}

/** Sets a new password for the account a reset invite names, under the same rules as registration. */
export function resetPasswordWithInvite(ctx: AppContext, origin: Origin, input: RegistrationInput): Promise<RegistrationResult> {
  return redeem(ctx, origin, input, "reset");
}

/** Refused registrations of a running server, grouped per host, reason and client network. */
const refusalLog = onePer((ctx: AppContext) => new CoalescedEvents(ctx, ctx.config.limits.authFailureWindow));

/** Writes the repeat counts of refused registrations still pending (server shutdown). */
export function flushRefusals(ctx: AppContext): Promise<unknown> {
  return refusalLog(ctx).flush();
}

/**
 * Audits a refused registration as `registration.refused`. Anyone can cause these at will, so they are coalesced:
 * the first per (host, reason, client network by [limits] ipv4_prefix/ipv6_prefix) within auth_failure_log_window is
 * written at once, later ones as one row with `repeats: N`. The attempted username is kept only when it is a valid
 * name, so junk input never lands in the audit log; the password never does.
 */
export async function recordRefusal(ctx: AppContext, origin: Origin, refusal: { reason: RefusalReason; invite?: Invite | null; username?: string; host?: string }): Promise<void> {
  const invite = refusal.invite ?? null;
  const hostName = invite?.host ?? refusal.host ?? "";
  const host = getHost(ctx.config, hostName);
  const user = refusal.username && host && !checkUsername(refusal.username, host) ? refusal.username : "";
  const details: Record<string, unknown> = { reason: refusal.reason };
  if (invite) {
    details.invite_id = invite.id;
    details.kind = invite.kind;
  }
  const addr = origin.ip ? parseIp(origin.ip) : null;
  const network = addr ? truncateIp(addr, ctx.config.limits.ipv4Prefix, ctx.config.limits.ipv6Prefix) : "-";
  await refusalLog(ctx).record(`${hostName}|${refusal.reason}|${network}`, origin, { type: "registration.refused", host: hostName, user, details });
}
