import { and, eq, lte } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import { SYSTEM_ORIGIN } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { recordEvent } from "../audit/service.ts";
import { findAccount, usernameConflictTx, usernameSkeleton } from "../accounts/service.ts";
import { claimInviteUseTx, findInviteByToken, getInviteById, inviteStatus, parseLabels, settleReservationTx, type ClaimFailure, type Invite } from "../invites/service.ts";
import { metrics } from "../metrics/index.ts";
import { providerFor } from "./providers.ts";
import type { ProvisionOutcome } from "./types.ts";
import { provisionReservations } from "./schema.ts";

export type Reservation = typeof provisionReservations.$inferSelect;

/** Reservations this process is provisioning right now: the sweeper never releases those, however old. */
const inFlight = new Set<number>();

/** How long a reservation may live: twice the provider timeout, so only a dead process's reservations expire. */
export function reservationLifetime(host: HostConfig): number {
  return 2 * host.provision.timeout;
}

export interface ProvisionPlan {
  kind: "account" | "reset";
  host: HostConfig;
  token: string;
  username: string; // normalised
  /** How long the reservation may live (default: reservationLifetime(host)). */
  lifetime?: number;
}

export type ReserveFailure = ClaimFailure | "busy" | "username_taken" | "account_missing";
type Reserved = { ok: true; reservation: Reservation; invite: Invite } | { ok: false; reason: ReserveFailure; invite: Invite | null };

/**
 * Inside a write job: checks the name against local accounts and other registrations in flight, then holds one use
 * of the invite (uses + reserved < max_uses, in the UPDATE itself) and writes the reservation row with its expiry.
 */
export function reserveTx(ctx: AppContext, plan: ProvisionPlan, now: number): Reserved {
  // An account name is free when no account has it or a look-alike and no other open invite is bound to it.
  if (plan.kind === "account" && usernameConflictTx(ctx, plan.host.name, plan.username, findInviteByToken(ctx, plan.token)?.id, now)) return { ok: false, reason: "username_taken", invite: null };
  if (plan.kind === "reset" && !findAccount(ctx, plan.host.name, plan.username)) return { ok: false, reason: "account_missing", invite: null };
  // In-flight registrations of this name or, for a new account, of a look-alike (few rows: one per registration
  // being provisioned right now).
  const skeleton = usernameSkeleton(plan.username);
  const pending = ctx.db.orm
    .select({ username: provisionReservations.username })
    .from(provisionReservations)
    .where(eq(provisionReservations.host, plan.host.name))
    .all()
    .find((r) => r.username === plan.username || (plan.kind === "account" && usernameSkeleton(r.username) === skeleton));
  // Someone is registering (or resetting) this very name right now; the outcome is not known yet.
  if (pending) return { ok: false, reason: plan.kind === "account" ? "username_taken" : "busy", invite: null };
  const claim = claimInviteUseTx(ctx, plan.token, now, "reserve");
  if (!claim.ok) {
    // Active but every remaining use is held by a registration in flight: it may come back.
    const busy = claim.reason === "used" && claim.invite !== null && inviteStatus(claim.invite, now) === "active";
    return { ok: false, reason: busy ? "busy" : claim.reason, invite: claim.invite };
  }
  const reservation = ctx.db.orm
    .insert(provisionReservations)
    .values({
      inviteId: claim.invite.id,
      host: plan.host.name,
      username: plan.username,
      kind: plan.kind,
      reservedAt: now,
      expiresAt: now + (plan.lifetime ?? reservationLifetime(plan.host)),
    })
    .returning()
    .get();
  return { ok: true, reservation, invite: claim.invite };
}

/** Inside a write job: ends a reservation, turning its use into a real one or giving it back. False if it was gone. */
export function finishReservationTx(ctx: AppContext, reservation: Pick<Reservation, "id" | "inviteId">, outcome: "consume" | "release"): boolean {
  const gone = ctx.db.orm.delete(provisionReservations).where(eq(provisionReservations.id, reservation.id)).returning({ id: provisionReservations.id }).get();
  if (!gone) return false;
  settleReservationTx(ctx, reservation.inviteId, outcome);
  return true;
}

class ReservationLostError extends Error {}

export type ProvisionFlowResult<T> =
  | { ok: true; invite: Invite; value: T }
  | { ok: false; reason: ReserveFailure | "provision_failed"; invite: Invite | null; outcome?: ProvisionOutcome };

export interface ReservedSteps<T> {
  /** The costly work once the use is held (hashing the password). A throw gives the use back and is rethrown. */
  prepare?: () => Promise<void>;
  /** Handed to the host's provider, if it has one. */
  password: string;
  /** Records the account, ledger row and events, inside the write job that consumes the use. */
  complete: (invite: Invite, now: number) => T;
}

/**
 * Every registration's flow. Job 1 reserves one use of the invite and the name, so however many requests race for a
 * one-use invite, only one goes on to the costly steps: `prepare` (the hash), then the host's provider, called
 * outside any transaction. Job 2 either consumes the use and runs `complete` (local account record, ledger, audit)
 * or releases it (with a provider failure, writing `provision.failed`). Only the database is touched inside the
 * jobs (a job may be replayed); the provider call happens exactly once.
 */
export async function reserveThenRecord<T>(ctx: AppContext, origin: Origin, plan: ProvisionPlan, steps: ReservedSteps<T>): Promise<ProvisionFlowResult<T>> {
  const provider = providerFor(plan.host, ctx.log);
  const reserved = await ctx.db.write(() => reserveTx(ctx, plan, Date.now()));
  if (!reserved.ok) return reserved;
  const { reservation, invite } = reserved;
  inFlight.add(reservation.id);
  try {
    if (steps.prepare) {
      try {
        await steps.prepare();
      } catch (e) {
        await release(ctx, origin, plan, reservation, invite, null, null);
        throw e;
      }
    }
    return provider ? await provisionReserved(ctx, origin, plan, steps, provider, reservation, invite) : await recordReserved(ctx, origin, plan, steps, reservation, invite);
  } finally {
    inFlight.delete(reservation.id);
  }
}

/**
 * No provider: the account lives in invited alone, so nothing downstream has happened yet and a revocation or expiry
 * that landed while the password was hashed still wins, as it would against a claim.
 */
async function recordReserved<T>(ctx: AppContext, origin: Origin, plan: ProvisionPlan, steps: ReservedSteps<T>, reservation: Reservation, invite: Invite): Promise<ProvisionFlowResult<T>> {
  try {
    return await ctx.db.write((): ProvisionFlowResult<T> => {
      const now = Date.now();
      const current = getInviteById(ctx, invite.id);
      const dead = !current ? "unknown" : current.revokedAt !== null ? "revoked" : now >= current.expiresAt ? "expired" : null;
      if (dead) {
        finishReservationTx(ctx, reservation, "release");
        return { ok: false, reason: dead, invite: current };
      }
      if (!finishReservationTx(ctx, reservation, "consume")) {
        // Released meanwhile by another process's sweeper: take a use the ordinary way, if one is left.
        const claim = claimInviteUseTx(ctx, plan.token, now, "use");
        if (!claim.ok) return claim;
      }
      return { ok: true, invite, value: steps.complete(invite, now) };
    });
  } catch (e) {
    // complete() refused (the name was taken by a path that holds no reservation, e.g. the CLI): the job rolled
    // back, so the use is still held. Give it back, then let the caller map the error.
    await release(ctx, origin, plan, reservation, invite, null, null);
    throw e;
  }
}

async function provisionReserved<T>(
  ctx: AppContext,
  origin: Origin,
  plan: ProvisionPlan,
  steps: ReservedSteps<T>,
  provider: NonNullable<ReturnType<typeof providerFor>>,
  reservation: Reservation,
  invite: Invite,
): Promise<ProvisionFlowResult<T>> {
  const outcome = await provider.provision({
    kind: plan.kind,
    host: plan.host.name,
    username: plan.username,
    password: steps.password,
    groups: parseLabels(invite.groups),
    roles: parseLabels(invite.roles),
    inviteId: invite.id,
  });
  const where = `${plan.username}@${plan.host.name} (invite ${invite.id})`;
  metrics.provisionCalls.inc({ host: plan.host.name, result: outcome.result });
  if (outcome.result === "created") {
    try {
      const value = await ctx.db.write(() => {
        const now = Date.now();
        if (!finishReservationTx(ctx, reservation, "consume")) {
          // Released meanwhile by another process's sweeper: take a use the ordinary way, if one is left.
          const claim = claimInviteUseTx(ctx, plan.token, now, "use");
          if (!claim.ok) throw new ReservationLostError("the reservation expired and the invite has no use left");
        }
        return steps.complete(invite, now);
      });
      return { ok: true, invite, value };
    } catch (e) {
      ctx.log.error(`provisioning ${where}: the ${provider.type} provider succeeded but the account could not be recorded: ${(e as Error).message}`);
      await release(ctx, origin, plan, reservation, invite, provider.type, "record_failed");
      return { ok: false, reason: "provision_failed", invite, outcome: { result: "failed", reason: "record_failed", detail: (e as Error).message } };
    }
  }
  if (outcome.result === "taken") {
    await release(ctx, origin, plan, reservation, invite, provider.type, null);
    return { ok: false, reason: "username_taken", invite, outcome };
  }
  ctx.log.warn(`provisioning ${where} failed (${outcome.reason}): ${outcome.detail}`);
  await release(ctx, origin, plan, reservation, invite, provider.type, outcome.reason);
  return { ok: false, reason: "provision_failed", invite, outcome };
}

/** Gives the use back; with a failure reason also writes `provision.failed` in the same job. */
async function release(ctx: AppContext, origin: Origin, plan: ProvisionPlan, reservation: Reservation, invite: Invite, provider: string | null, reason: string | null): Promise<void> {
  try {
    await ctx.db.write(() => {
      finishReservationTx(ctx, reservation, "release");
      if (reason !== null) {
        recordEvent(ctx, origin, { type: "provision.failed", host: plan.host.name, user: plan.username, details: { invite_id: invite.id, kind: plan.kind, provider, reason } });
      }
    });
  } catch (e) {
    // The reservation stays; the sweeper releases it once it expires.
    ctx.log.error(`could not release the reservation of ${plan.username}@${plan.host.name}: ${(e as Error).message}`);
  }
}

/**
 * Releases reservations whose registration can no longer finish: older than twice the provider timeout and not in
 * flight in this process (the process that made them died between reserve and settle). Each release writes
 * `provision.failed` with reason `abandoned`.
 */
export async function releaseStaleReservations(ctx: AppContext, now = Date.now()): Promise<number> {
  const stale = ctx.db.orm
    .select()
    .from(provisionReservations)
    .where(lte(provisionReservations.expiresAt, now))
    .all()
    .filter((r) => !inFlight.has(r.id));
  if (stale.length === 0) return 0;
  return ctx.db.write(() => {
    let released = 0;
    for (const r of stale) {
      if (!finishReservationTx(ctx, r, "release")) continue;
      released++;
      recordEvent(ctx, SYSTEM_ORIGIN, {
        type: "provision.failed",
        host: r.host,
        user: r.username,
        details: { invite_id: r.inviteId, kind: r.kind, reason: "abandoned", reserved_at: r.reservedAt },
      });
    }
    return released;
  });
}

const SWEEP_EVERY_MS = 5000;

/**
 * Releases stale reservations at start-up, then every few seconds. A failing sweep is logged once, not every time,
 * until one succeeds.
 */
export function startReservationSweeper(ctx: AppContext): { stop(): void } {
  let failing = false;
  const sweep = () =>
    releaseStaleReservations(ctx).then(
      (n) => {
        failing = false;
        if (n > 0) ctx.log.warn(`released ${n} provisioning reservation(s) left by a process that stopped mid-registration`);
      },
      (e) => {
        if (!failing) ctx.log.warn(`releasing stale reservations failed: ${(e as Error).message}`);
        failing = true;
      },
    );
  sweep();
  // Every registration holds a reservation while it hashes or provisions, so the sweeper always runs.
  const timer = setInterval(sweep, SWEEP_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

export type PasswordChangeFlow<T> = { ok: true; value: T } | { ok: false; reason: "busy" | "provision_failed"; outcome?: ProvisionOutcome };

/**
 * A member's password change where a provider owns the password: the same reserve-then-record rules as a
 * registration, without an invite. Job 1 holds the name (a reservation row, so two changes of one account cannot
 * race, nor a change and a reset); `prepare` runs (the hash, when invited keeps one); the provider's reset path is
 * called outside any transaction; job 2 ends the reservation and runs `complete`, or gives the name back with
 * `provision.failed`.
 */
export async function reserveThenChangePassword<T>(
  ctx: AppContext,
  origin: Origin,
  host: HostConfig,
  username: string,
  password: string,
  steps: { prepare?: () => Promise<void>; complete: (now: number) => T },
): Promise<PasswordChangeFlow<T>> {
  const provider = providerFor(host, ctx.log);
  if (!provider) throw new Error(`host ${host.name} has no provider`);
  const plan: ProvisionPlan = { kind: "reset", host, token: "", username };
  const reservation = await ctx.db.write(() => {
    const now = Date.now();
    const pending = ctx.db.orm
      .select({ id: provisionReservations.id })
      .from(provisionReservations)
      .where(and(eq(provisionReservations.host, host.name), eq(provisionReservations.username, username)))
      .get();
    if (pending) return null;
    return ctx.db.orm
      .insert(provisionReservations)
      .values({ inviteId: "", host: host.name, username, kind: "reset", reservedAt: now, expiresAt: now + reservationLifetime(host) })
      .returning()
      .get();
  });
  if (!reservation) return { ok: false, reason: "busy" };
  const noInvite = { id: "" } as Invite;
  inFlight.add(reservation.id);
  try {
    try {
      await steps.prepare?.();
    } catch (e) {
      await release(ctx, origin, plan, reservation, noInvite, null, null);
      throw e;
    }
    const outcome = await provider.provision({ kind: "reset", host: host.name, username, password, groups: [], roles: [], inviteId: "" });
    metrics.provisionCalls.inc({ host: host.name, result: outcome.result });
    if (outcome.result === "created") {
      const value = await ctx.db.write(() => {
        ctx.db.orm.delete(provisionReservations).where(eq(provisionReservations.id, reservation.id)).run();
        return steps.complete(Date.now());
      });
      return { ok: true, value };
    }
    const reason = outcome.result === "failed" ? outcome.reason : "taken";
    if (outcome.result === "failed") ctx.log.warn(`password change of ${username}@${host.name} failed (${outcome.reason}): ${outcome.detail}`);
    await release(ctx, origin, plan, reservation, noInvite, provider.type, reason);
    return { ok: false, reason: "provision_failed", outcome };
  } finally {
    inFlight.delete(reservation.id);
  }
}
