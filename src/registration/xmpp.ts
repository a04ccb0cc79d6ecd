// In-band registration through the XMPP server: Prosody's mod_invited (deploy/prosody/mod_invited.lua) asks, this
// file decides. check (preauth, read-only) → reserve (user-registering, the name as Prosody normalised it) →
// commit (user-registered / user-password-reset, durable and idempotent) or release (the registration failed or the
// stream closed). Reservations are the providers' (provisioning/service.ts), with a lifetime longer than Prosody's
// 300 s limit for an unauthenticated session.
import { and, eq, gte } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { checkUsername, findAccount, normaliseUsername, type UsernameProblem } from "../accounts/service.ts";
import { countUseTx, findInviteByToken, getInvite, inviteStatus, parseLabels, recordRedemptionTx, type Invite, type InviteKind } from "../invites/service.ts";
import { recordEvent } from "../audit/service.ts";
import { redemptions } from "../invites/schema.ts";
import { finishReservationTx, reserveTx, type ReserveFailure } from "../provisioning/service.ts";
import { provisionReservations } from "../provisioning/schema.ts";
import { metrics } from "../metrics/index.ts";
import { takeRegistrationAttempt } from "../limits/registration.ts";
import { USERNAME_REFUSALS, completeRegistrationTx, recordRefusal, type RefusalReason } from "./service.ts";

/** Longer than Prosody's 300 s for an unauthenticated c2s session, so only a lost commit or release expires. */
export const XMPP_RESERVATION_LIFETIME = 10 * 60_000;

/** Why check or reserve refused: invite_* for the token, username_* and account_missing for the name. */
export type XmppRefusal = Exclude<RefusalReason, "throttled">;

/** What Prosody needs to know about a good invite: its kind, the name it is bound to, and the roles it may grant. */
export interface XmppInvite {
  invite: Invite;
  kind: InviteKind;
  username: string | null;
  /** The invite's roles that the host's prosody_roles allows (never prosody:admin). */
  prosodyRoles: string[];
}

export type XmppCheck = { ok: true; value: XmppInvite } | { ok: false; reason: XmppRefusal };

const DEAD = { expired: "invite_expired", used: "invite_used", revoked: "invite_revoked" } as const;

function describe(host: HostConfig, invite: Invite): XmppInvite {
  const allowed = new Set(host.prosodyRoles);
  return {
    invite,
    kind: invite.kind as InviteKind,
    username: invite.username,
    prosodyRoles: parseLabels(invite.roles).filter((r) => allowed.has(r) && r !== "prosody:admin"),
  };
}

/**
 * Preauth: is this token one of the host's live invites? Read-only. A dead invite is a refused registration
 * (audited with the client's address); an unknown token is not, since it may be one of Prosody's own.
 */
export async function checkXmppInvite(ctx: AppContext, origin: Origin, host: HostConfig, token: string, now = Date.now()): Promise<XmppCheck> {
  const invite = findInviteByToken(ctx, token);
  if (!invite || invite.host !== host.name) return { ok: false, reason: "invite_unknown" };
  const status = inviteStatus(invite, now);
  if (status !== "active") {
    await recordRefusal(ctx, origin, { reason: DEAD[status], invite });
    return { ok: false, reason: DEAD[status] };
  }
  return { ok: true, value: describe(host, invite) };
}

export interface XmppReserveInput {
  token: string;
  /** The name as Prosody normalised it (nodeprep). */
  username: string;
  /** Whether Prosody already has an account of this name. */
  exists: boolean;
}

export interface XmppReservation {
  id: number;
  inviteId: string;
  username: string;
  kind: InviteKind;
  reservedAt: number;
  expiresAt: number;
}

export type XmppReserveResult =
  | { ok: true; reservation: XmppReservation; value: XmppInvite }
  | { ok: false; reason: XmppRefusal; problem?: UsernameProblem }
  | { ok: false; reason: "throttled"; retryAfterMs: number };

const RESERVE_FAILURES: Record<ReserveFailure, XmppRefusal> = {
  unknown: "invite_unknown",
  expired: "invite_expired",
  used: "invite_used",
  revoked: "invite_revoked",
  busy: "invite_busy",
  username_taken: "username_taken",
  account_missing: "account_missing",
};

/**
 * user-registering: hold one use of the invite for this name, after the rules stock Prosody does not check: the
 * name invited's username rules allow, a bound invite's own name, a reset invite's existing account.
 */
export async function reserveXmppRegistration(ctx: AppContext, origin: Origin, host: HostConfig, input: XmppReserveInput, now = Date.now()): Promise<XmppReserveResult> {
  const invite = findInviteByToken(ctx, input.token);
  const refuse = async (reason: XmppRefusal, username?: string, problem?: UsernameProblem): Promise<XmppReserveResult> => {
    await recordRefusal(ctx, origin, { reason, invite, username, host: host.name });
    return { ok: false, reason, problem };
  };
  if (!invite || invite.host !== host.name) return refuse("invite_unknown");
  const status = inviteStatus(invite, now);
  if (status !== "active") return refuse(DEAD[status]);

  const username = input.username;
  // invited's username rules, on the name as Prosody normalised it; not_canonical covers a name that Prosody's
  // nodeprep and invited's normalisation would store differently.
  const problem = checkUsername(username, host);
  if (problem) return refuse(USERNAME_REFUSALS[problem] as XmppRefusal, undefined, problem); // never "throttled"
  if (invite.username !== null && invite.username !== username && normaliseUsername(invite.username) !== username) return refuse("username_not_allowed", username);
  const kind = invite.kind as InviteKind;
  if (kind === "account" && input.exists) return refuse("username_taken", username);
  if (kind === "reset" && !input.exists) return refuse("account_missing", username);
  // The per-network registration throttle ([limits] registration_rate), on the client's address, not Prosody's.
  const attempt = takeRegistrationAttempt(ctx, origin.ip, now);
  if (!attempt.ok) {
    metrics.registrationsThrottled.inc();
    await recordRefusal(ctx, origin, { reason: "throttled", invite, username, host: host.name });
    return { ok: false, reason: "throttled", retryAfterMs: attempt.retryAfterMs };
  }

  const reserved = await ctx.db.write(() => reserveTx(ctx, { kind, host, token: input.token, username, lifetime: XMPP_RESERVATION_LIFETIME }, now));
  if (!reserved.ok) return refuse(RESERVE_FAILURES[reserved.reason], username);
  const r = reserved.reservation;
  return {
    ok: true,
    reservation: { id: r.id, inviteId: r.inviteId, username: r.username, kind: r.kind as InviteKind, reservedAt: r.reservedAt, expiresAt: r.expiresAt },
    value: describe(host, reserved.invite),
  };
}

/** What the module queued at user-registered: the reservation it was given. */
export type XmppCommitInput = Pick<XmppReservation, "id" | "inviteId" | "username" | "kind" | "reservedAt">;

export type XmppCommitResult = { ok: true; already: boolean; late: boolean } | { ok: false; reason: "invite_unknown" };

/**
 * user-registered / user-password-reset: the account exists in Prosody, so record it: the reservation's use becomes
 * a real one, and the account row (no password hash: the password stays in Prosody), the ledger row and the events
 * are written in the same job. Idempotent: a ledger row of this invite and name made since the reservation means it
 * is already done. Accepted after the reservation expired and was released: the use is then counted directly,
 * whatever the invite's state, because the account exists either way.
 */
export async function commitXmppRegistration(ctx: AppContext, origin: Origin, host: HostConfig, input: XmppCommitInput): Promise<XmppCommitResult> {
  const result = await ctx.db.write((): XmppCommitResult => {
    const now = Date.now();
    const invite = getInvite(ctx, host.name, input.inviteId);
    if (!invite || invite.kind !== input.kind) return { ok: false, reason: "invite_unknown" };
    const done = ctx.db.orm
      .select({ id: redemptions.id })
      .from(redemptions)
      .where(
        and(
          eq(redemptions.inviteId, invite.id),
          eq(redemptions.username, input.username),
          eq(redemptions.source, "xmpp"),
          gte(redemptions.usedAt, input.reservedAt),
        ),
      )
      .get();
    if (done) return { ok: true, already: true, late: false };
    const reservation = ctx.db.orm
      .select()
      .from(provisionReservations)
      .where(and(eq(provisionReservations.id, input.id), eq(provisionReservations.inviteId, invite.id), eq(provisionReservations.username, input.username)))
      .get();
    const late = !(reservation && finishReservationTx(ctx, reservation, "consume"));
    if (late) countUseTx(ctx, invite.id);
    const exists = findAccount(ctx, host.name, input.username) !== null;
    if ((input.kind === "account") !== exists) {
      completeRegistrationTx(ctx, origin, { kind: input.kind, host, token: "", username: input.username, keepHash: false, passwordHash: null }, invite, now);
    } else {
      // Only after a late commit: the name was registered (or the account deleted) through another door meanwhile.
      // Prosody has done it either way; the ledger and the event still record the use.
      ctx.log.warn(`xmpp commit of ${input.username}@${host.name} (${input.kind}): invited's account ${exists ? "already exists" : "is gone"}; recording the use only`);
      recordRedemptionTx(ctx, invite, input.username, "xmpp", now);
      recordEvent(ctx, origin, { type: "invite.used", host: host.name, user: input.username, details: { invite_id: invite.id, kind: invite.kind } }, now);
    }
    return { ok: true, already: false, late };
  });
  if (result.ok && !result.already) metrics.invitesRedeemed.inc({ host: host.name }); // after the commit: a job may run twice
  return result;
}

/** The registration failed or its stream closed before commit: give the use back. False if it was already gone. */
export function releaseXmppReservation(ctx: AppContext, host: HostConfig, input: Pick<XmppReservation, "id" | "inviteId">): Promise<boolean> {
  return ctx.db.write(() => {
    const reservation = ctx.db.orm
      .select()
      .from(provisionReservations)
      .where(and(eq(provisionReservations.id, input.id), eq(provisionReservations.inviteId, input.inviteId), eq(provisionReservations.host, host.name)))
      .get();
    return reservation ? finishReservationTx(ctx, reservation, "release") : false;
  });
}
