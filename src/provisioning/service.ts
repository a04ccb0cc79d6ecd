import { and, eq, lte } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import { SYSTEM_ORIGIN } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { recordEvent } from "../audit/service.ts";
import { findAccount } from "../accounts/service.ts";
import { claimInviteUseTx, inviteStatus, parseLabels, settleReservationTx, type ClaimFailure, type Invite } from "../invites/service.ts";
import { metrics } from "../metrics/index.ts";
import { providerFor, type ProvisionOutcome } from "./providers.ts";
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
  const account = findAccount(ctx, plan.host.name, plan.username);
  if (plan.kind === "account" && account) return { ok: false, reason: "username_taken", invite: null };
  if (plan.kind === "reset" && !account) return { ok: false, reason: "account_missing", invite: null };
  const pending = ctx.db.orm
    .select({ id: provisionReservations.id })
    .from(provisionReservations)
    .where(and(eq(provisionReservations.host, plan.host.name), eq(provisionReservations.username, plan.username)))
    .get();
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

/**
 * The provisioning flow. Job 1 reserves one use of the invite. The provider is then called outside any
 * transaction. Job 2 either consumes the use and runs `complete` (local account record, ledger, audit) or releases
 * it and writes `provision.failed`. Only the database is touched inside the jobs (a job may be replayed); the
 * provider call happens exactly once.
 */
export async function provisionThenRecord<T>(
  ctx: AppContext,
  origin: Origin,
  plan: ProvisionPlan,
  password: string,
  complete: (invite: Invite, now: number) => T,
): Promise<ProvisionFlowResult<T>> {
  const provider = providerFor(plan.host, ctx.log);
  if (!provider) throw new Error(`host ${plan.host.name} has no provider`);
  const reserved = await ctx.db.write(() => reserveTx(ctx, plan, Date.now()));
  if (!reserved.ok) return reserved;
  const { reservation, invite } = reserved;
  inFlight.add(reservation.id);
  try {
    const outcome = await provider.provision({
      kind: plan.kind,
      host: plan.host.name,
      username: plan.username,
      password,
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
          return complete(invite, now);
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
  } finally {
    inFlight.delete(reservation.id);
  }
}

/** Gives the use back; with a failure reason also writes `provision.failed` in the same job. */
async function release(ctx: AppContext, origin: Origin, plan: ProvisionPlan, reservation: Reservation, invite: Invite, provider: string, reason: string | null): Promise<void> {
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
  // Always: besides providers, an XMPP server's mod_invited makes reservations (POST /api/v1/xmpp/reserve) at any time.
  const timer = setInterval(sweep, SWEEP_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
