import type { Logger } from "../lib/log.ts";
import type { HostConfig, ProvisionConfig } from "../config/index.ts";
import { describeUrl, newMessageId, signedHeaders } from "../lib/webhooks.ts";

/** What a provider is asked to do: create an account, or set a new password on an existing one. */
export interface ProvisionRequest {
  kind: "account" | "reset";
  host: string;
  username: string; // normalised
  password: string;
  groups: string[];
  roles: string[];
  inviteId: string;
}

/**
 * created: the downstream server did it. taken: the name exists there (webhook 409, or the command's
 * taken_exit_code). failed: anything else; `reason` is a short code for the audit log, `detail` is for the server
 * log only (never shown to the person, never containing the password).
 */
export type ProvisionOutcome = { result: "created" } | { result: "taken" } | { result: "failed"; reason: string; detail: string };

/** A downstream account system: the real XMPP (or other) server behind invited. */
export interface Provider {
  readonly type: ProvisionConfig["type"];
  /** Never throws; never runs longer than the configured timeout (plus a moment to reap a killed process). */
  provision(request: ProvisionRequest): Promise<ProvisionOutcome>;
}

export function providerFor(host: HostConfig, log: Logger): Provider | null {
  const cfg = host.provision;
  if (cfg.type === "webhook") return new WebhookProvider(cfg);
  if (cfg.type === "command") return new CommandProvider(cfg, log);
  return null;
}

/** The webhook's event type: what the receiver is asked to do. */
export function webhookEventType(kind: ProvisionRequest["kind"]): string {
  return kind === "reset" ? "account.password_reset" : "account.created";
}

/**
 * POSTs `{type, host, username, password, groups, roles, invite_id}` signed per Standard Webhooks. 2xx: done;
 * 409 on account creation: name taken; anything else, a redirect, a timeout or a network error: failure. The URL
 * comes from the config file only.
 */
export class WebhookProvider implements Provider {
  readonly type = "webhook" as const;
  constructor(private readonly cfg: ProvisionConfig) {}

  async provision(req: ProvisionRequest): Promise<ProvisionOutcome> {
    const url = this.cfg.url!;
    const body = JSON.stringify({
      type: webhookEventType(req.kind),
      host: req.host,
      username: req.username,
      password: req.password,
      groups: req.groups,
      roles: req.roles,
      invite_id: req.inviteId,
    });
    const headers = signedHeaders(this.cfg.secrets, newMessageId(), body);
    try {
      const res = await fetch(url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(this.cfg.timeout) });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return { result: "created" };
      if (res.status === 409 && req.kind === "account") return { result: "taken" };
      return { result: "failed", reason: `http_${res.status}`, detail: `${describeUrl(url)} answered ${res.status}` };
    } catch (e) {
      const name = (e as Error)?.name;
      if (name === "TimeoutError" || name === "AbortError") return { result: "failed", reason: "timeout", detail: `${describeUrl(url)} did not answer within ${this.cfg.timeout} ms` };
      return { result: "failed", reason: "network_error", detail: `${describeUrl(url)}: ${String((e as Error)?.message ?? e).slice(0, 200)}` };
    }
  }
}

/** Output kept from a command for the log; the rest is read and dropped so the process never blocks on a full pipe. */
const OUTPUT_LIMIT = 4096;

/**
 * Runs the configured argv without a shell. {username}, {host}, {groups} and {roles} are replaced inside each
 * argument, which stays one argument whatever the values hold. The password goes only to stdin, in the `stdin`
 * format; never into argv (visible in `ps`) or the environment. Exit 0: done; `taken_exit_code`: name taken;
 * anything else or the timeout (the process is killed): failure. stderr goes to the server log only.
 */
export class CommandProvider implements Provider {
  readonly type = "command" as const;
  constructor(
    private readonly cfg: ProvisionConfig,
    private readonly log: Logger,
  ) {}

  async provision(req: ProvisionRequest): Promise<ProvisionOutcome> {
    const template = req.kind === "reset" ? this.cfg.resetCommand : this.cfg.command;
    if (!template) return { result: "failed", reason: "reset_not_configured", detail: "no reset_command is configured for password resets" };
    const vars: Record<string, string> = { username: req.username, host: req.host, groups: req.groups.join(","), roles: req.roles.join(",") };
    const argv = template.map((arg) => substitute(arg, vars));
    const input = substitute(this.cfg.stdin, { ...vars, password: req.password });
    const redact = (text: string) => (req.password ? text.split(req.password).join("[password]") : text);
    const what = `${argv[0]} for ${req.username}@${req.host}`;

    const started = performance.now();
    let proc;
    try {
      proc = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: process.env, timeout: this.cfg.timeout, killSignal: "SIGKILL" });
    } catch (e) {
      return { result: "failed", reason: "spawn_failed", detail: `${what}: cannot start: ${(e as Error).message}` };
    }
    try {
      proc.stdin.write(input);
      await proc.stdin.end();
    } catch {
      // The command exited without reading its input; its exit status says what happened.
    }
    // A child the command left behind may hold the pipes open: output is read until exit plus one second, no longer.
    const drained = new AbortController();
    const outputs = Promise.all([readCapped(proc.stdout, drained.signal), readCapped(proc.stderr, drained.signal)]);
    const code = await proc.exited;
    const timer = setTimeout(() => drained.abort(), 1000);
    const [stdout, stderr] = await outputs;
    clearTimeout(timer);
    const output = redact(stderr.trim()) || redact(stdout.trim());
    const tail = output ? `: ${oneLine(output)}` : "";
    if (proc.signalCode === "SIGKILL" && performance.now() - started >= this.cfg.timeout) {
      return { result: "failed", reason: "timeout", detail: `${what} was killed after ${this.cfg.timeout} ms${tail}` };
    }
    if (code === 0) {
      if (stderr.trim()) this.log.info(`provision command ${what}: ${oneLine(redact(stderr.trim()))}`);
      return { result: "created" };
    }
    if (this.cfg.takenExitCode !== null && code === this.cfg.takenExitCode && req.kind === "account") return { result: "taken" };
    if (proc.signalCode) return { result: "failed", reason: "killed", detail: `${what} died from ${proc.signalCode}${tail}` };
    return { result: "failed", reason: `exit_${code}`, detail: `${what} exited with status ${code}${tail}` };
  }
}

/** Replaces {name} placeholders inside one argument (which stays one argument); unknown ones are left as they are. */
export function substitute(template: string, vars: Record<string, string>): string {
  return template.replace(/\{([A-Za-z_]+)\}/g, (m, name: string) => (Object.hasOwn(vars, name) ? vars[name]! : m));
}

async function readCapped(stream: ReadableStream<Uint8Array>, stop: AbortSignal): Promise<string> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  const onStop = () => reader.cancel().catch(() => {});
  stop.addEventListener("abort", onStop);
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (text.length < OUTPUT_LIMIT) text += decoder.decode(value, { stream: true });
    }
  } catch {
    // cancelled: keep what was read
  } finally {
    stop.removeEventListener("abort", onStop);
  }
  return text.slice(0, OUTPUT_LIMIT);
}

/** Command output as one log line: control characters (ANSI prompts, newlines) shown as spaces. */
function oneLine(text: string): string {
  return text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/[\x00-\x1f\x7f]+/g, " ").trim().slice(0, 1000);
}
