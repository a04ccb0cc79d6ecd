// Real downstream daemons for the provisioning tests, each started on free loopback ports with its own config and
// data directory (never the system's instance), plus an XMPP login and a watch over every process's argv.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { client } from "@xmpp/client";
import { eventually } from "./provision-helpers.ts";

export interface Daemon {
  dir: string;
  proc: Subprocess;
  output(): string;
  stop(): Promise<void>;
}

/** Spawns a daemon, collects its output, and stops it (SIGTERM, then SIGKILL after 5 s) and removes `dir`. */
export function spawnDaemon(argv: string[], dir: string, env: Record<string, string> = {}): Daemon {
  const proc = Bun.spawn(argv, { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...(process.env as Record<string, string>), ...env } });
  let output = "";
  const dec = new TextDecoder();
  for (const stream of [proc.stdout, proc.stderr]) {
    (async () => {
      for await (const c of stream) output += dec.decode(c);
    })();
  }
  return {
    dir,
    proc,
    output: () => output,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(5000).then(() => false)]);
      if (!exited) {
        proc.kill("SIGKILL");
        await proc.exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** True once something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    Bun.connect({ hostname: "127.0.0.1", port, socket: { open: (s) => (s.end(), resolve(true)), data() {}, error: () => resolve(false), connectError: () => resolve(false) } }).catch(() => resolve(false));
  });
}

/** Waits for `ready`, failing early (with the daemon's output and `logFile`) if the daemon exits. */
export async function waitReady(d: Daemon, ready: () => Promise<boolean>, what: string, logFile?: string): Promise<void> {
  try {
    await eventually(
      async () => {
        if (d.proc.exitCode !== null) throw new Error(`${what} exited with ${d.proc.exitCode}`);
        return await ready();
      },
      30_000,
      what,
    );
  } catch (e) {
    let log = "";
    try {
      if (logFile) log = readFileSync(logFile, "utf8").slice(-4000);
    } catch {}
    const out = d.output();
    await d.stop();
    throw new Error(`${(e as Error).message}\n${out}\n${log}`);
  }
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

/**
 * Reads every process's argv from /proc, over and over, until stopped; `seen` holds each distinct command line.
 * A password in any of them is visible to every local user (ps), which invited must never cause.
 */
export function watchArgv(): { stop(): Promise<string[]> } {
  const seen = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const pid of readdirSync("/proc")) {
        if (!/^\d+$/.test(pid)) continue;
        try {
          seen.add(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" "));
        } catch {}
      }
      await Bun.sleep(2);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return [...seen];
    },
  };
}
