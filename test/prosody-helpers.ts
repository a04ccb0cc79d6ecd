// A throw-away Prosody on loopback (temporary config and data directory) and a real XMPP client login, shared by
// the provisioning and the sign-in tests.
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
  stop(): Promise<void>;
}

/** Writes a throw-away Prosody config (c2s on 127.0.0.1 only, plain auth allowed, no TLS) and starts Prosody. */
export async function startProsody(): Promise<Prosody> {
  const dir = mkdtempSync(join(tmpdir(), "invited-prosody-"));
  mkdirSync(join(dir, "data"));
  mkdirSync(join(dir, "certs"));
  const port = freePort();
  const config = join(dir, "prosody.cfg.lua");
  const user = userInfo().username;
  writeFileSync(
    config,
    `-- Temporary Prosody for invited's provisioning test.
prosody_user = ${JSON.stringify(user)} -- prosodyctl run as root would otherwise switch to the "prosody" user
run_as_root = true -- only matters when the test runs as root (CI containers)
daemonize = false
pidfile = ${JSON.stringify(join(dir, "prosody.pid"))}
data_path = ${JSON.stringify(join(dir, "data"))}
certificates = ${JSON.stringify(join(dir, "certs"))}
plugin_paths = {}
interfaces = { "127.0.0.1" }
c2s_interfaces = { "127.0.0.1" }
c2s_ports = { ${port} }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}
modules_enabled = { "roster", "saslauth", "disco", "ping" }
modules_disabled = { "s2s", "tls" }
authentication = "internal_hashed"
storage = "internal"
allow_unencrypted_plain_auth = true
c2s_require_encryption = false
s2s_require_encryption = false
log = { { levels = { min = "info" }, to = "file", filename = ${JSON.stringify(join(dir, "prosody.log"))} } }

VirtualHost ${JSON.stringify(HOST)}
`,
  );
  const proc = Bun.spawn([PROSODY!, "--config", config], { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let output = "";
  const dec = new TextDecoder();
  (async () => {
    for await (const c of proc.stdout) output += dec.decode(c);
  })();
  (async () => {
    for await (const c of proc.stderr) output += dec.decode(c);
  })();
  const stop = async () => {
    if (proc.exitCode === null) proc.kill("SIGTERM");
    const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
    if (!exited) {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
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
    let log = "";
    try {
      log = readFileSync(join(dir, "prosody.log"), "utf8");
    } catch {}
    await stop();
    throw new Error(`${(e as Error).message}\n${output}\n${log}`);
  }
  return { dir, config, port, proc, stop };
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

