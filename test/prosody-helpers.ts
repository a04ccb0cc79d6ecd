// A throw-away Prosody on loopback (temporary config and data directory) and a real XMPP client login, shared by
// the provisioning, the sign-in and the mod_invited tests.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { client } from "@xmpp/client";
import { freePort } from "./helpers.ts";
import { eventually } from "./provision-helpers.ts";

export const PROSODY = Bun.which("prosody");
export const PROSODYCTL = Bun.which("prosodyctl");
export const HOST = "example.com";

export interface Prosody {
  dir: string;
  config: string;
  port: number;
  proc: Subprocess;
  /** Prosody's log file so far. */
  log(): string;
  /** Stops Prosody and starts it again on the same config and data directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface ProsodyOptions {
  host?: string;
  /** Added to modules_enabled (roster, saslauth, disco, ping are always there). */
  modules?: string[];
  /** Extra global Lua lines (plugin_paths, options). */
  global?: string;
  /** Extra Lua lines under the VirtualHost. */
  virtualHost?: string;
  /** allow_unencrypted_plain_auth (default true); false leaves only SCRAM on the unencrypted loopback stream. */
  plainAuth?: boolean;
  logLevel?: "debug" | "info";
  /** c2s_interfaces (default 127.0.0.1). */
  interfaces?: string[];
  /** Lua appended as it is instead of the VirtualHost section (a config snippet with its own VirtualHost). */
  tail?: string;
}

/**
 * Writes a throw-away Prosody config (c2s on 127.0.0.1 only, no TLS: the test streams are unencrypted on loopback,
 * so c2s_require_encryption is off) and starts Prosody.
 */
export async function startProsody(opts: ProsodyOptions = {}): Promise<Prosody> {
  const host = opts.host ?? HOST;
  const dir = mkdtempSync(join(tmpdir(), "invited-prosody-"));
  mkdirSync(join(dir, "data"));
  mkdirSync(join(dir, "certs"));
  const port = freePort();
  const config = join(dir, "prosody.cfg.lua");
  const user = userInfo().username;
  const modules = ["roster", "saslauth", "disco", "ping", ...(opts.modules ?? [])];
  writeFileSync(
    config,
    `-- Temporary Prosody for invited's tests.
prosody_user = ${JSON.stringify(user)} -- prosodyctl run as root would otherwise switch to the "prosody" user
run_as_root = true -- only matters when the test runs as root (CI containers)
daemonize = false
pidfile = ${JSON.stringify(join(dir, "prosody.pid"))}
data_path = ${JSON.stringify(join(dir, "data"))}
certificates = ${JSON.stringify(join(dir, "certs"))}
interfaces = { "127.0.0.1" }
c2s_interfaces = { ${(opts.interfaces ?? ["127.0.0.1"]).map((i) => JSON.stringify(i)).join(", ")} }
c2s_ports = { ${port} }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}
modules_enabled = { ${modules.map((m) => JSON.stringify(m)).join(", ")} }
modules_disabled = { "s2s", "tls" }
authentication = "internal_hashed"
storage = "internal"
allow_unencrypted_plain_auth = ${opts.plainAuth === false ? "false" : "true"}
c2s_require_encryption = false
s2s_require_encryption = false
log = { { levels = { min = ${JSON.stringify(opts.logLevel ?? "info")} }, to = "file", filename = ${JSON.stringify(join(dir, "prosody.log"))} } }
${opts.global ?? "plugin_paths = {}"}

${opts.tail ?? `VirtualHost ${JSON.stringify(host)}\n${opts.virtualHost ?? ""}`}
`,
  );
  const log = () => {
    try {
      return readFileSync(join(dir, "prosody.log"), "utf8");
    } catch {
      return "";
    }
  };
  let proc: Subprocess;
  let output = "";
  const halt = async () => {
    if (proc.exitCode === null) proc.kill("SIGTERM");
    const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
    if (!exited) {
      proc.kill("SIGKILL");
      await proc.exited;
    }
  };
  const launch = async () => {
    proc = Bun.spawn([PROSODY!, "--config", config], { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const dec = new TextDecoder();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const c of stream) output += dec.decode(c);
    };
    void pump(proc.stdout as ReadableStream<Uint8Array>);
    void pump(proc.stderr as ReadableStream<Uint8Array>);
    try {
      await eventually(
        async () => {
          if (proc.exitCode !== null) throw new Error(`prosody exited with ${proc.exitCode}: ${output}`);
          return await new Promise<boolean>((resolve) => {
            Bun.connect({ hostname: "127.0.0.1", port, socket: { open: (s) => (s.end(), resolve(true)), data() {}, error: () => resolve(false), connectError: () => resolve(false) } }).catch(() => resolve(false));
          });
        },
        20_000,
        "prosody to listen",
      );
    } catch (e) {
      const text = log();
      await halt();
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${(e as Error).message}\n${output}\n${text}`);
    }
  };
  await launch();
  return {
    dir,
    config,
    port,
    get proc() {
      return proc;
    },
    log,
    async restart() {
      await halt();
      await launch();
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Logs in over c2s with @xmpp/client (no TLS on loopback). Resolves "ok" or the error condition. */
export async function xmppLogin(port: number, username: string, password: string): Promise<string> {
  const xmpp = client({ service: `xmpp://127.0.0.1:${port}`, domain: HOST, username, password, resource: "test" });
  xmpp.on("error", () => {});
  const attempt = (async () => {
    try {
      await xmpp.start();
      return "ok";
    } catch (e) {
      return String((e as { condition?: string }).condition ?? (e as Error).message);
    }
  })();
  const result = await Promise.race([attempt, Bun.sleep(20_000).then(() => "timeout")]);
  try {
    await xmpp.stop();
  } catch {}
  return result;
}

