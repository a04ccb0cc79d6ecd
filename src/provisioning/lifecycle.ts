import type { AppContext, Origin } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { recordEvent } from "../audit/service.ts";
import { deleteAccount, findAccount, normaliseUsername } from "../accounts/service.ts";
import { parseLabels } from "../invites/service.ts";
import { metrics } from "../metrics/index.ts";
import { providerFor } from "./providers.ts";
import type { LifecycleOperation, ProvisionFailure } from "./types.ts";

export type DownstreamResult = { ok: true; provider: string | null } | { ok: false; provider: string; failure: ProvisionFailure };

/**
 * Asks the host's provider to disable, enable or delete an account on the real server. A host without a provider
 * has nothing downstream: ok. A failure (the server refused, is down, or the provider cannot do it) is logged and
 * written to the audit log as `provision.failed` (kind = the operation), and handed back with the provider's message
 * in `failure.detail`, so the caller leaves invited's own record as it was and says why. Call it BEFORE changing
 * invited's record: a deleted user must not keep an account on the real server that invited no longer knows about.
 */
export async function actDownstream(ctx: AppContext, origin: Origin, host: HostConfig, username: string, op: LifecycleOperation): Promise<DownstreamResult> {
  const provider = providerFor(host, ctx.log);
  if (!provider) return { ok: true, provider: null };
  const account = findAccount(ctx, host.name, username);
  // The stored name is the one the downstream account was made with (older accounts keep their older form).
  const name = account?.username ?? normaliseUsername(username);
  const target = { host: host.name, username: name, groups: parseLabels(account?.groups ?? "[]"), roles: parseLabels(account?.roles ?? "[]") };
  const outcome = await provider[op](target);
  metrics.provisionCalls.inc({ host: host.name, result: outcome.result });
  if (outcome.result === "done") return { ok: true, provider: provider.type };
  ctx.log.warn(`${op} of ${name}@${host.name} downstream failed (${outcome.reason}): ${outcome.detail}`);
  await ctx.db.write(() => {
    recordEvent(ctx, origin, { type: "provision.failed", host: host.name, user: name, details: { kind: op, provider: provider.type, reason: outcome.reason } });
  });
  return { ok: false, provider: provider.type, failure: outcome };
}

export type DeleteResult = { ok: true; username: string; downstream: "deleted" | "none" | "skipped" } | { ok: false; reason: "not_found" } | { ok: false; reason: "provision_failed"; failure: ProvisionFailure };

/**
 * Deletes an account: downstream first, then invited's row (the ledger keeps its rows). If the real server refuses
 * or is down, invited's account stays as it was. `localOnly` removes just invited's row, on purpose (the account
 * was already removed downstream by hand, or the downstream is gone for good).
 */
export async function deleteAccountEverywhere(ctx: AppContext, origin: Origin, host: HostConfig, username: string, opts: { localOnly?: boolean } = {}): Promise<DeleteResult> {
  const account = findAccount(ctx, host.name, username);
  if (!account) return { ok: false, reason: "not_found" };
  const name = account.username;
  let downstream: "deleted" | "none" | "skipped" = "skipped";
  if (!opts.localOnly) {
    const r = await actDownstream(ctx, origin, host, name, "delete");
    if (!r.ok) return { ok: false, reason: "provision_failed", failure: r.failure };
    downstream = r.provider === null ? "none" : "deleted";
  }
  // Deleted meanwhile by another call: that call reports it.
  if (!(await deleteAccount(ctx, origin, host.name, name))) return { ok: false, reason: "not_found" };
  return { ok: true, username: name, downstream };
}

/**
 * The provider side of `invited user disable` (and the console's): call before disabling invited's record, and
 * leave the record as it is when this is not ok (the failure's detail says why; provision.failed is written).
 */
export function disableDownstream(ctx: AppContext, origin: Origin, host: HostConfig, username: string): Promise<DownstreamResult> {
  return actDownstream(ctx, origin, host, username, "disable");
}

/** The provider side of `invited user enable`: call before enabling invited's record, as disableDownstream. */
export function enableDownstream(ctx: AppContext, origin: Origin, host: HostConfig, username: string): Promise<DownstreamResult> {
  return actDownstream(ctx, origin, host, username, "enable");
}

/** A lifecycle operation the real server refused (or could not be asked): invited's record was left as it was. */
export class DownstreamError extends Error {
  constructor(
    readonly operation: LifecycleOperation,
    readonly provider: string,
    readonly failure: ProvisionFailure,
  ) {
    super(`the ${provider} provider could not ${operation} the account downstream (${failure.reason}): ${failure.detail}`);
  }
}
