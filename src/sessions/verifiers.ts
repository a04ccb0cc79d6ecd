import type { HostConfig, SigninConfig } from "../config/index.ts";
import type { Logger } from "../lib/log.ts";
import { newMessageId, signedHeaders, describeUrl } from "../lib/webhooks.ts";
import { substitute } from "../provisioning/command.ts";
import { LdapProvider } from "../provisioning/ldap.ts";

/**
 * Checking a password where it lives ([hosts.X.signin]), for the types whose truth is downstream: an XMPP login,
 * a command, a signed webhook. (type = "local" is checked against invited's own hash in signin.ts.) Each check
 * answers valid, invalid, or error (the downstream could not say); it never throws and never outlives its timeout.
 */
export type Verdict = { result: "valid" } | { result: "invalid" } | { result: "error"; detail: string };

export interface VerifyRequest {
  host: HostConfig;
  username: string; // normalised
  password: string;
}

export function verifyDownstream(req: VerifyRequest, log: Logger): Promise<Verdict> {
  const cfg = req.host.signin;
  switch (cfg.type) {
    case "xmpp":
      return verifyByXmpp(cfg, req);
    case "command":
      return verifyByCommand(cfg, req, log);
    case "webhook":
      return verifyByWebhook(cfg, req);
    case "ldap":
      return verifyByLdap(req);
    default:
      return Promise.resolve({ result: "error", detail: `sign-in type ${cfg.type} has no downstream check` });
  }
}

/** A simple bind as the user's own entry, with the host's [provision] directory settings (see LdapProvider). */
async function verifyByLdap(req: VerifyRequest): Promise<Verdict> {
  const r = await new LdapProvider(req.host.provision).verifyPassword(req.username, req.password);
  if (r.result === "ok") return { result: "valid" };
  if (r.result === "wrong") return { result: "invalid" };
  return { result: "error", detail: r.detail };
}

/**
 * A real client login to the host's XMPP server. @xmpp/client upgrades with STARTTLS when offered (or speaks TLS
 * from the start with tls = "direct"), prefers SCRAM-SHA-1, and never sends PLAIN over an unencrypted stream. The
 * session is closed as soon as the login is known to have worked.
 */
async function verifyByXmpp(cfg: SigninConfig, req: VerifyRequest): Promise<Verdict> {
  const { hostname, port } = cfg.server!;
  const scheme = cfg.tls === "direct" ? "xmpps" : "xmpp";
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  // Loaded on first use: the library holds ~23 MiB, and most servers never check a password over XMPP.
  const { client: xmppClient } = await import("@xmpp/client");
  const xmpp = xmppClient({ service: `${scheme}://${host}:${port}`, domain: req.host.name, username: req.username, password: req.password, resource: "invited-signin" });
  xmpp.on("error", () => {}); // start() rejects with the same error
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Verdict>((resolve) => {
    timer = setTimeout(() => resolve({ result: "error", detail: `no answer from ${hostname}:${port} within ${cfg.timeout} ms` }), cfg.timeout);
  });
  const attempt = xmpp.start().then(
    (): Verdict => ({ result: "valid" }),
    (e: unknown): Verdict => {
      const condition = (e as { condition?: string }).condition;
      if (condition === "not-authorized" || condition === "account-disabled" || condition === "credentials-expired") return { result: "invalid" };
      return { result: "error", detail: `${hostname}:${port}: ${String(condition ?? (e as Error)?.message ?? e).slice(0, 200)}` };
    },
  );
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
    xmpp.stop().catch(() => {});
  }
}

/** Runs verify_command without a shell; the password only on stdin. Exit 0: valid; 1: invalid; anything else: error. */
async function verifyByCommand(cfg: SigninConfig, req: VerifyRequest, log: Logger): Promise<Verdict> {
  const vars: Record<string, string> = { username: req.username, host: req.host.name };
  const argv = cfg.verifyCommand!.map((a) => substitute(a, vars));
  const input = substitute(cfg.stdin, { ...vars, password: req.password });
  let proc;
  try {
    proc = Bun.spawn(argv, { stdin: "pipe", stdout: "ignore", stderr: "pipe", env: process.env, timeout: cfg.timeout, killSignal: "SIGKILL" });
  } catch (e) {
    return { result: "error", detail: `${argv[0]}: cannot start: ${(e as Error).message}` };
  }
  try {
    proc.stdin.write(input);
    await proc.stdin.end();
  } catch {
    // exited without reading; its status says what happened
  }
  const stderr = new Response(proc.stderr).text().catch(() => "");
  const code = await proc.exited;
  if (code === 0) return { result: "valid" };
  if (code === 1) return { result: "invalid" };
  const text = (await Promise.race([stderr, Bun.sleep(200).then(() => "")])).split(req.password).join("[password]").replace(/[\x00-\x1f\x7f]+/g, " ").trim().slice(0, 300);
  if (text) log.warn(`verify_command ${argv[0]} for ${req.username}@${req.host.name}: ${text}`);
  return { result: "error", detail: proc.signalCode ? `${argv[0]} died from ${proc.signalCode}` : `${argv[0]} exited with status ${code}` };
}

/**
 * POSTs `{type: "signin.verify", host, username, password}` signed per Standard Webhooks (the provider's signing).
 * 204 (or any 2xx): valid; 401 or 403: invalid; anything else, a redirect or a timeout: error.
 */
async function verifyByWebhook(cfg: SigninConfig, req: VerifyRequest): Promise<Verdict> {
  const body = JSON.stringify({ type: "signin.verify", host: req.host.name, username: req.username, password: req.password });
  const headers = signedHeaders(cfg.secrets, newMessageId(), body);
  try {
    const res = await fetch(cfg.url!, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(cfg.timeout) });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) return { result: "valid" };
    if (res.status === 401 || res.status === 403) return { result: "invalid" };
    return { result: "error", detail: `${describeUrl(cfg.url!)} answered ${res.status}` };
  } catch (e) {
    return { result: "error", detail: `${describeUrl(cfg.url!)}: ${String((e as Error)?.name === "TimeoutError" ? "timed out" : (e as Error)?.message).slice(0, 200)}` };
  }
}
