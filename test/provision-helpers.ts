// Real webhook receivers on loopback for the provisioning and notification tests. Every request is verified with
// the standardwebhooks library, the way a real receiver would.
import { randomBytes } from "node:crypto";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import type { Server, Subprocess } from "bun";
import { Webhook } from "standardwebhooks";
import { client } from "@xmpp/client";
import { expect, test } from "bun:test";
import { cli, freePort, sandbox } from "./helpers.ts";

export function newSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

export interface Received {
  at: number;
  headers: Record<string, string>;
  body: string;
  json: any;
  /** Which of the receiver's secrets verified the signature (null: none did). */
  verifiedWith: string | null;
}

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** Requests whose handler has started but not answered yet. */
  inFlight(): number;
  setHandler(h: Handler): void;
  /** Resolves when at least `n` requests have arrived (rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<Received[]>;
  stop(): void;
}

export type Handler = (req: Received) => Response | Promise<Response>;

/**
 * A Bun.serve receiver on 127.0.0.1. `secrets`: the secrets it knows; a request none of them verifies is answered
 * 401 (and recorded with verifiedWith = null). The handler decides the answer for verified requests.
 */
export function startReceiver(secrets: string[], handler: Handler = () => new Response(null, { status: 204 }), port = 0): Receiver {
  const received: Received[] = [];
  let current = handler;
  let active = 0;
  const server: Server<undefined> = Bun.serve({
    hostname: "127.0.0.1",
    port,
    idleTimeout: 60,
    async fetch(request) {
      active++;
      try {
        const body = await request.text();
        const headers: Record<string, string> = {};
        request.headers.forEach((v, k) => (headers[k] = v));
        let verifiedWith: string | null = null;
        for (const s of secrets) {
          try {
            new Webhook(s).verify(body, headers);
            verifiedWith = s;
            break;
          } catch {}
        }
        let json: unknown = null;
        try {
          json = JSON.parse(body);
        } catch {}
        const rec: Received = { at: Date.now(), headers, body, json, verifiedWith };
        received.push(rec);
        if (!verifiedWith) return new Response("bad signature", { status: 401 });
        return await current(rec);
      } finally {
        active--;
      }
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/hook`,
    port: server.port!,
    received,
    inFlight: () => active,
    setHandler: (h) => (current = h),
    async waitFor(n, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`receiver got ${received.length} request(s), expected ${n}`);
        await Bun.sleep(20);
      }
      return received;
    },
    stop: () => server.stop(true),
  };
}

/** Polls `check` until it returns a truthy value (or throws after `ms`). */
export async function eventually<T>(check: () => T | Promise<T>, ms = 15_000, what = "condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
    await Bun.sleep(25);
  }
}

/**
 * One test per case: a host whose `[hosts."example.com".provision]` table is `body` must make every command exit 2
 * with a message matching `message`, and no stack trace.
 */
export function provisionConfigErrorTests(cases: [name: string, body: string, message: RegExp][]): void {
  for (const [name, body, message] of cases) {
    test(name, async () => {
      const sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."example.com".provision]\n${body}\n`);
      try {
        const r = await cli(["invite", "list", "example.com"], { config: sb.config });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/\n\s+at /);
      } finally {
        sb.cleanup();
      }
    });
  }
}

// A real Prosody (Debian's package) on loopback, with its own config and data directory, for the tests that need
// the XMPP server itself: provision-prosody.test.ts and prosody-module.test.ts.

export const PROSODY = Bun.which("prosody");
export const PROSODYCTL = Bun.which("prosodyctl");

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
  const host = opts.host ?? "example.com";
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
export async function xmppLogin(port: number, domain: string, username: string, password: string): Promise<string> {
  const xmpp = client({ service: `xmpp://127.0.0.1:${port}`, domain, username, password, resource: "test" });
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

export interface Relay {
  port: number;
  /** Called once, before the first 200 answer to a request whose first line starts with `requestStart` is passed on. */
  beforeAnswer(requestStart: string, action: () => Promise<void>): void;
  stop(): void;
}

/**
 * A plain TCP relay on loopback in front of a real server, to stop that server at an exact point of an exchange
 * (between two of a client's requests). Bytes pass unchanged; a connection to a stopped server is closed unanswered.
 */
export function startRelay(upstreamPort: number): Relay {
  let hook: { start: string; action: () => Promise<void> } | null = null;
  type Pipe = { upstream: Promise<import("bun").Socket<undefined> | null>; request: string; checked: boolean; out: Promise<void> };
  const listener = Bun.listen<Pipe>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        const pipe: Pipe = { request: "", checked: false, upstream: Promise.resolve(null), out: Promise.resolve() };
        client.data = pipe;
        pipe.upstream = Bun.connect({
          hostname: "127.0.0.1",
          port: upstreamPort,
          socket: {
            data(_up, chunk) {
              const copy = new Uint8Array(chunk);
              // In order, even while an action holds the first chunk back.
              pipe.out = pipe.out.then(async () => {
                if (!pipe.checked) {
                  pipe.checked = true;
                  const h = hook;
                  if (h && pipe.request.startsWith(h.start) && new TextDecoder().decode(copy.subarray(0, 16)).startsWith("HTTP/1.1 200")) {
                    hook = null;
                    await h.action();
                  }
                }
                client.write(copy);
              });
            },
            close: () => void (pipe.out = pipe.out.then(() => void client.end())),
            error: () => void (pipe.out = pipe.out.then(() => void client.end())),
          },
        }).catch(() => {
          client.end();
          return null;
        });
      },
      async data(client, chunk) {
        client.data.request += new TextDecoder().decode(chunk);
        (await client.data.upstream)?.write(chunk);
      },
      async close(client) {
        (await client.data?.upstream)?.end();
      },
    },
  });
  return {
    port: listener.port,
    beforeAnswer: (start, action) => (hook = { start, action }),
    stop: () => listener.stop(true),
  };
}
