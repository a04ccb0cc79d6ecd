import type { Logger } from "../lib/log.ts";
import type { ProvisionConfig } from "../config/index.ts";
import { notSupported, type AccountTarget, type LifecycleOperation, type LifecycleOutcome, type Provider, type ProvisionFailure, type ProvisionOutcome, type ProvisionRequest } from "./types.ts";

/** Output kept from a command for the log; the rest is read and dropped so the process never blocks on a full pipe. */
const OUTPUT_LIMIT = 4096;

type Ran = { ok: true; stderr: string } | { ok: false; code: number | null; failure: ProvisionFailure };

/**
 * Runs the configured argv without a shell. {username}, {host}, {groups} and {roles} are replaced inside each
 * argument, which stays one argument whatever the values hold. The password goes only to stdin, in the `stdin`
 * format; never into argv (visible in `ps`) or the environment. Exit 0: done; `taken_exit_code` on creation: name
 * taken; anything else or the timeout (the process is killed): failure. stderr goes to the server log (and, for the
 * lifecycle commands an admin runs, into the failure's detail), with the password blanked.
 *
 * disable_command, enable_command and delete_command get the same placeholders and an empty stdin; a host without
 * one of them answers that operation with `not_supported`.
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
    const vars = placeholders(req);
    const ran = await this.run(template, substitute(this.cfg.stdin, { ...vars, password: req.password }), vars, req.password);
    if (ran.ok) return { result: "created" };
    if (this.cfg.takenExitCode !== null && ran.code === this.cfg.takenExitCode && req.kind === "account") return { result: "taken" };
    return ran.failure;
  }

  disable(target: AccountTarget): Promise<LifecycleOutcome> {
    return this.lifecycle("disable", this.cfg.disableCommand, target);
  }
  enable(target: AccountTarget): Promise<LifecycleOutcome> {
    return this.lifecycle("enable", this.cfg.enableCommand, target);
  }
  delete(target: AccountTarget): Promise<LifecycleOutcome> {
    return this.lifecycle("delete", this.cfg.deleteCommand, target);
  }

  private async lifecycle(op: LifecycleOperation, template: string[] | undefined, target: AccountTarget): Promise<LifecycleOutcome> {
    if (!template) return notSupported("command", op, `no ${op}_command is configured`);
    const ran = await this.run(template, "", placeholders(target), "");
    return ran.ok ? { result: "done" } : ran.failure;
  }

  private async run(template: string[], input: string, vars: Record<string, string>, password: string): Promise<Ran> {
    const argv = template.map((arg) => substitute(arg, vars));
    const redact = (text: string) => (password ? text.split(password).join("[password]") : text);
    const what = `${argv[0]} for ${vars.username}@${vars.host}`;

    const started = performance.now();
    let proc;
    try {
      proc = Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: process.env, timeout: this.cfg.timeout, killSignal: "SIGKILL" });
    } catch (e) {
      return { ok: false, code: null, failure: { result: "failed", reason: "spawn_failed", detail: `${what}: cannot start: ${(e as Error).message}` } };
    }
    try {
      if (input) proc.stdin.write(input);
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
    const fail = (reason: string, detail: string): Ran => ({ ok: false, code, failure: { result: "failed", reason, detail } });
    if (proc.signalCode === "SIGKILL" && performance.now() - started >= this.cfg.timeout) return fail("timeout", `${what} was killed after ${this.cfg.timeout} ms${tail}`);
    if (code === 0) {
      if (stderr.trim()) this.log.info(`provision command ${what}: ${oneLine(redact(stderr.trim()))}`);
      return { ok: true, stderr };
    }
    if (proc.signalCode) return fail("killed", `${what} died from ${proc.signalCode}${tail}`);
    return fail(`exit_${code}`, `${what} exited with status ${code}${tail}`);
  }
}

function placeholders(t: AccountTarget): Record<string, string> {
  return { username: t.username, host: t.host, groups: t.groups.join(","), roles: t.roles.join(",") };
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
