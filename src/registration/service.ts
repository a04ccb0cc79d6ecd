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
  type Account,
} from "../accounts/service.ts";
import { claimInviteUseTx, findInviteByToken, inviteStatus, parseLabels, recordRedemptionTx, type ClaimFailure, type Invite, type InviteKind } from "../invites/service.ts";
import { metrics } from "../metrics/index.ts";
import { provisionThenRecord } from "../provisioning/service.ts";

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
  | "username_too_long"
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
  | "provision_failed";

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
  | { ok: false; reason: RefusalReason; invite: Invite | null; host: HostConfig | null };

/** Everything checked and hashed before the write: what the single write job needs. */
export interface RegistrationPlan {
  kind: InviteKind;
  host: HostConfig;
  token: string;
  username: string; // normalised
  /** null when a provider owns the password and keep_password is off. */
  passwordHash: string | null;
}

const DEAD: Record<ClaimFailure, RefusalReason> = { unknown: "invite_unknown", expired: "invite_expired", used: "invite_used", revoked: "invite_revoked" };

/** A refusal caused by the token itself (the web answer is a 303 to the token's landing page). */
export function isDeadInvite(reason: RefusalReason): boolean {
  return reason === "invite_unknown" || reason === "invite_expired" || reason === "invite_used" || reason === "invite_revoked";
}

/** Thrown inside the write job to roll the claim back when the account to reset has gone meanwhile. */
class AccountMissingError extends Error {}

type Prepared = { ok: true; plan: RegistrationPlan; invite: Invite } | { ok: false; reason: RefusalReason; invite: Invite | null; host: HostConfig | null; username?: string };

/**
 * Checks the token, username and password, then hashes the password (async, off the JS thread). Nothing is written.
 * These checks only give early, precise messages: the write job re-decides the invite (conditional claim) and the
 * name (unique index), so a race between here and there can never over-use an invite or duplicate an account.
 */
export async function prepareRegistration(ctx: AppContext, input: RegistrationInput, kind: InviteKind, now = Date.now()): Promise<Prepared> {
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
    username = normaliseUsername(invite.username ?? "");
    if (typed !== "" && (typed.length > 4 * host.usernameMaxLength || normaliseUsername(typed) !== username)) return refuse("username_not_allowed");
    if (!findAccount(ctx, host.name, username)) return refuse("account_missing", username);
  } else {
    if (typed === "") return refuse("missing_username");
    // NFKC can only grow a string so much; a huge value is refused before normalising it.
    if (typed.length > 4 * host.usernameMaxLength + 16) return refuse("username_too_long");
    username = normaliseUsername(typed);
    const problem = checkUsername(username, host);
    if (problem === "too_long") return refuse("username_too_long");
    if (problem) return refuse(problem === "empty" ? "missing_username" : "username_invalid");
    if (invite.username && normaliseUsername(invite.username) !== username) return refuse("username_not_allowed", username);
    if (findAccount(ctx, host.name, username)) return refuse("username_taken", username);
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
  const passwordHash = keepHash ? await hashPassword(password) : null;
  return { ok: true, invite, plan: { kind, host, token: input.token, username, passwordHash } };
}

/**
 * The account side of a redemption, for an invite whose use the same write job has already claimed: create the
 * account (or set the new password), append the ledger row and write the audit events. Throws AccountExistsError or
 * AccountMissingError so the job's savepoint rolls back the claim with it.
 *
 * Kept apart from the claim so a provisioning flow can run: job 1 claims in "reserve" mode; the downstream server is
 * provisioned outside any transaction; job 2 calls settleReservationTx(..., "consume") and then this function (or
 * settles with "release" if provisioning failed).
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

/** Claims one use and completes the registration in ONE write job: either all of it commits or none of it. */
async function commitRegistration(ctx: AppContext, origin: Origin, plan: RegistrationPlan): Promise<RegistrationResult> {
  try {
    const result = await ctx.db.write((): RegistrationResult => {
      const now = Date.now();
      const claim = claimInviteUseTx(ctx, plan.token, now, "use");
      if (!claim.ok) return { ok: false, reason: DEAD[claim.reason], invite: claim.invite, host: plan.host };
      const account = completeRegistrationTx(ctx, origin, plan, claim.invite, now);
      return { ok: true, kind: plan.kind, host: plan.host, username: plan.username, account, invite: claim.invite };
    });
    if (result.ok) metrics.invitesRedeemed.inc({ host: plan.host.name }); // after the commit: a write job may run twice
    return result;
  } catch (e) {
    if (e instanceof AccountExistsError) return { ok: false, reason: "username_taken", invite: null, host: plan.host };
    if (e instanceof AccountMissingError) return { ok: false, reason: "account_missing", invite: null, host: plan.host };
    throw e;
  }
}

/**
 * With a provider: reserve a use (job 1), have the provider create the account (or set the password) downstream,
 * then consume the use and record the account, ledger and audit events (job 2), or release the use. See
 * provisioning/service.ts. The invite stays usable after a failure.
 */
async function provisionAndCommit(ctx: AppContext, origin: Origin, plan: RegistrationPlan, password: string): Promise<RegistrationResult> {
  const flow = await provisionThenRecord(ctx, origin, plan, password, (invite, now) => completeRegistrationTx(ctx, origin, plan, invite, now));
  if (flow.ok) {
    metrics.invitesRedeemed.inc({ host: plan.host.name }); // after the commit, as for registrations without a provider
    return { ok: true, kind: plan.kind, host: plan.host, username: plan.username, account: flow.value, invite: flow.invite };
  }
  const reason: RefusalReason =
    flow.reason === "busy" ? "invite_busy" : flow.reason === "username_taken" || flow.reason === "account_missing" || flow.reason === "provision_failed" ? flow.reason : DEAD[flow.reason];
  return { ok: false, reason, invite: flow.invite, host: plan.host };
}

async function redeem(ctx: AppContext, origin: Origin, input: RegistrationInput, kind: InviteKind): Promise<RegistrationResult> {
  const prepared = await prepareRegistration(ctx, input, kind);
  if (!prepared.ok) {
    await recordRefusal(ctx, origin, { reason: prepared.reason, invite: prepared.invite, username: prepared.username });
    return { ok: false, reason: prepared.reason, invite: prepared.invite, host: prepared.host };
  }
  const result =
    prepared.plan.host.provision.type === "none"
      ? await commitRegistration(ctx, origin, prepared.plan)
      : await provisionAndCommit(ctx, origin, prepared.plan, input.password);
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

/**
 * Writes `registration.refused` in its own write job. The attempted username is kept only when it is a valid name,
 * so junk input never lands in the audit log; the password never does.
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
  try {
    await ctx.db.write(() => recordEvent(ctx, origin, { type: "registration.refused", host: hostName, user, details }));
  } catch (e) {
    ctx.log.warn(`could not record a refused registration: ${(e as Error).message}`);
  }
}
