import type { EjabberdConfig, ProvisionConfig } from "../config/index.ts";
import { describeUrl } from "../lib/webhooks.ts";
import { notSupported, type AccountTarget, type LifecycleOutcome, type Provider, type ProvisionFailure, type ProvisionOutcome, type ProvisionRequest } from "./types.ts";

type Answer = { status: number; text: string };

/**
 * ejabberd through its HTTP API (mod_http_api, commands of mod_admin_extra): register, change_password,
 * ban_account and unregister. Built in rather than a command recipe because ejabberdctl takes the password as an
 * argument, where every local user can read it; here it only ever travels in a request body, over loopback or
 * https. 2xx: done; register's 409 ("already registered"): name taken; anything else: failure with ejabberd's
 * message. ejabberd 23.01 has no unban: enable tries `unban_account` (ejabberd 24.06+) and otherwise answers
 * not_supported (ban_account also scrambled the password, so the way back is a password-reset invite).
 */
export class EjabberdProvider implements Provider {
  readonly type = "ejabberd" as const;
  private readonly api: EjabberdConfig;
  constructor(private readonly cfg: ProvisionConfig) {
    this.api = cfg.ejabberd!;
  }

  async provision(req: ProvisionRequest): Promise<ProvisionOutcome> {
    const account = { user: req.username, host: req.host };
    if (req.kind === "account") {
      const a = await this.call("register", { ...account, password: req.password });
      if (!("status" in a)) return a;
      if (a.status >= 200 && a.status < 300) return { result: "created" };
      if (a.status === 409) return { result: "taken" };
      return this.refused("register", a);
    }
    const a = await this.call("change_password", { ...account, newpass: req.password });
    if (!("status" in a)) return a;
    if (a.status >= 200 && a.status < 300) return { result: "created" };
    return this.refused("change_password", a);
  }

  async disable(t: AccountTarget): Promise<LifecycleOutcome> {
    return this.lifecycle("ban_account", { user: t.username, host: t.host, reason: "disabled in invited" });
  }

  async enable(t: AccountTarget): Promise<LifecycleOutcome> {
    const a = await this.call("unban_account", { user: t.username, host: t.host });
    if (!("status" in a)) return a;
    if (a.status >= 200 && a.status < 300) return { result: "done" };
    if (a.status === 404 || /unknown_command/.test(a.text)) return notSupported("ejabberd", "enable", "this ejabberd has no unban_account (added in 24.06); send a password-reset invite instead");
    return this.refused("unban_account", a);
  }

  async delete(t: AccountTarget): Promise<LifecycleOutcome> {
    // unregister answers 200 for an account that is already gone.
    return this.lifecycle("unregister", { user: t.username, host: t.host });
  }

  private async lifecycle(command: string, args: Record<string, string>): Promise<LifecycleOutcome> {
    const a = await this.call(command, args);
    if (!("status" in a)) return a;
    if (a.status >= 200 && a.status < 300) return { result: "done" };
    return this.refused(command, a);
  }

  private refused(command: string, a: Answer): ProvisionFailure {
    return { result: "failed", reason: `http_${a.status}`, detail: `ejabberd ${command} at ${describeUrl(this.api.url)} answered ${a.status}: ${messageOf(a.text)}` };
  }

  private async call(command: string, args: Record<string, string>): Promise<Answer | ProvisionFailure> {
    const url = `${this.api.url}/${command}`;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.api.apiUser !== null) headers.authorization = `Basic ${Buffer.from(`${this.api.apiUser}:${this.api.apiPassword}`).toString("base64")}`;
    try {
      const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(args), redirect: "manual", signal: AbortSignal.timeout(this.cfg.timeout) });
      const text = (await res.text()).slice(0, 2000);
      return { status: res.status, text };
    } catch (e) {
      const name = (e as Error)?.name;
      if (name === "TimeoutError" || name === "AbortError") return { result: "failed", reason: "timeout", detail: `ejabberd at ${describeUrl(url)} did not answer within ${this.cfg.timeout} ms` };
      return { result: "failed", reason: "network_error", detail: `ejabberd at ${describeUrl(url)}: ${String((e as Error)?.message ?? e).slice(0, 200)}` };
    }
  }
}

/** ejabberd answers errors as {"status":"error","code":N,"message":"..."} or as a bare JSON string. */
function messageOf(text: string): string {
  let msg = text;
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === "string") msg = v;
    else if (v && typeof v === "object" && typeof (v as { message?: unknown }).message === "string") msg = (v as { message: string }).message;
  } catch {}
  return msg.replace(/[\x00-\x1f\x7f]+/g, " ").trim().slice(0, 300) || "(no message)";
}
