import type { ProvisionConfig } from "../config/index.ts";
import { describeUrl, newMessageId, signedHeaders } from "../lib/webhooks.ts";
import type { AccountTarget, LifecycleOperation, LifecycleOutcome, Provider, ProvisionFailure, ProvisionOutcome, ProvisionRequest } from "./types.ts";

/** The webhook's request type: what the receiver is asked to do. */
export function webhookEventType(kind: ProvisionRequest["kind"] | LifecycleOperation): string {
  if (kind === "account") return "account.created";
  if (kind === "reset") return "account.password_reset";
  // Distinct from the account.deleted notification, which only says that something happened.
  return `provision.${kind}`;
}

/**
 * POSTs `{type, host, username, password, groups, roles, invite_id}` signed per Standard Webhooks (lifecycle
 * requests: `{type, host, username, groups, roles}`, no password). 2xx: done; 409 on account creation: name taken;
 * anything else, a redirect, a timeout or a network error: failure. The URL comes from the config file only.
 */
export class WebhookProvider implements Provider {
  readonly type = "webhook" as const;
  constructor(private readonly cfg: ProvisionConfig) {}

  async provision(req: ProvisionRequest): Promise<ProvisionOutcome> {
    const body = {
      type: webhookEventType(req.kind),
      host: req.host,
      username: req.username,
      password: req.password,
      groups: req.groups,
      roles: req.roles,
      invite_id: req.inviteId,
    };
    const answer = await this.post(body);
    if (typeof answer !== "number") return answer;
    if (answer >= 200 && answer < 300) return { result: "created" };
    if (answer === 409 && req.kind === "account") return { result: "taken" };
    return { result: "failed", reason: `http_${answer}`, detail: `${describeUrl(this.cfg.url!)} answered ${answer}` };
  }

  disable(target: AccountTarget): Promise<LifecycleOutcome> {
    return this.lifecycle("disable", target);
  }
  enable(target: AccountTarget): Promise<LifecycleOutcome> {
    return this.lifecycle("enable", target);
  }
  delete(target: AccountTarget): Promise<LifecycleOutcome> {
    return this.lifecycle("delete", target);
  }

  private async lifecycle(op: LifecycleOperation, target: AccountTarget): Promise<LifecycleOutcome> {
    const answer = await this.post({ type: webhookEventType(op), host: target.host, username: target.username, groups: target.groups, roles: target.roles });
    if (typeof answer !== "number") return answer;
    if (answer >= 200 && answer < 300) return { result: "done" };
    return { result: "failed", reason: `http_${answer}`, detail: `${describeUrl(this.cfg.url!)} answered ${answer} to ${webhookEventType(op)}` };
  }

  /** The status of the answer, or the failure when there was none. */
  private async post(payload: Record<string, unknown>): Promise<number | ProvisionFailure> {
    const url = this.cfg.url!;
    const body = JSON.stringify(payload);
    const headers = signedHeaders(this.cfg.secrets, newMessageId(), body);
    try {
      const res = await fetch(url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(this.cfg.timeout) });
      await res.body?.cancel().catch(() => {});
      return res.status;
    } catch (e) {
      const name = (e as Error)?.name;
      if (name === "TimeoutError" || name === "AbortError") return { result: "failed", reason: "timeout", detail: `${describeUrl(url)} did not answer within ${this.cfg.timeout} ms` };
      return { result: "failed", reason: "network_error", detail: `${describeUrl(url)}: ${String((e as Error)?.message ?? e).slice(0, 200)}` };
    }
  }
}
