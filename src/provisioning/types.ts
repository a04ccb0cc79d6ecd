import type { ProvisionConfig } from "../config/index.ts";

/** What a provider is asked to do: create an account, or set a new password on an existing one. */
export interface ProvisionRequest {
  kind: "account" | "reset";
  host: string;
  username: string; // normalised
  password: string;
  groups: string[];
  roles: string[];
  inviteId: string;
  /** The account's address, when it has one (providers that map it, like LDAP's mail, leave it out otherwise). */
  email?: string | null;
}

/** The account a lifecycle operation (disable, enable, delete) acts on downstream. */
export interface AccountTarget {
  host: string;
  username: string; // normalised
  groups: string[];
  roles: string[];
}

/**
 * created: the downstream server did it. taken: the name exists there (webhook 409, or the command's
 * taken_exit_code). failed: anything else; `reason` is a short code for the audit log, `detail` is for the server
 * log and the admin (never shown to the person registering, never containing the password).
 */
export type ProvisionOutcome = { result: "created" } | { result: "taken" } | ProvisionFailure;

export type ProvisionFailure = { result: "failed"; reason: string; detail: string };

/** done: the downstream server disabled, enabled or deleted the account (or it was already so). */
export type LifecycleOutcome = { result: "done" } | ProvisionFailure;

export type LifecycleOperation = "disable" | "enable" | "delete";

/**
 * A downstream account system: the real XMPP (or other) server behind invited. Every provider answers the same
 * four operations; one it cannot do answers failed with reason `not_supported`, so invited's own record never
 * claims what the downstream did not do. None of them throws, or runs longer than the configured timeout (plus a
 * moment to reap a killed process).
 */
export interface Provider {
  readonly type: Exclude<ProvisionConfig["type"], "none">;
  /** Creates the account (kind "account") or sets a new password (kind "reset"). */
  provision(request: ProvisionRequest): Promise<ProvisionOutcome>;
  disable(target: AccountTarget): Promise<LifecycleOutcome>;
  enable(target: AccountTarget): Promise<LifecycleOutcome>;
  delete(target: AccountTarget): Promise<LifecycleOutcome>;
}

export function notSupported(type: string, op: string, hint: string): ProvisionFailure {
  return { result: "failed", reason: "not_supported", detail: `the ${type} provider cannot ${op} accounts${hint ? `: ${hint}` : ""}` };
}
