// Test harness: a fresh temp dir + database per test, the real CLI entry point (or the compiled binary when
// INVITED_BIN is set), and a real server on a free loopback port.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = join(import.meta.dir, "..");
const BIN: string[] = process.env.INVITED_BIN ? [process.env.INVITED_BIN] : [process.execPath, join(ROOT, "src/main.ts")];

export interface Sandbox {
  dir: string;
  config: string;
  db: string;
  cleanup(): void;
}

/**
 * A temp dir with a config file whose database lives inside it. `extra` is appended TOML.
 * The registration throttle (5/hour per address by default) would refuse most tests' registrations, which all come
 * from 127.0.0.1, so it is off unless `extra` sets `registration_rate` itself.
 */
export function sandbox(extra = "", opts: { port?: number; host?: string; publicUrl?: string } = {}): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), "invited-test-"));
  const db = join(dir, "invited.db");
  const config = join(dir, "invited.toml");
  const host = opts.host ?? "example.com";
  const hasHosts = /^\[hosts\./m.test(extra);
  if (!/^registration_rate\s*=/m.test(extra)) {
    extra = /^\[limits\]$/m.test(extra) ? extra.replace(/^\[limits\]$/m, '[limits]\nregistration_rate = "off"') : `${extra}\n[limits]\nregistration_rate = "off"\n`;
  }
  const toml = [
    "[server]",
    `listen = "127.0.0.1:${opts.port ?? 0}"`,
    'shutdown_timeout = "5s"',
    "",
    "[database]",
    `path = ${JSON.stringify(db)}`,
    "",
    hasHosts ? "" : `[hosts.${JSON.stringify(host)}]\npublic_url = ${JSON.stringify(opts.publicUrl ?? `https://${host}`)}\n`,
    extra,
  ].join("\n");
  writeFileSync(config, toml);
  return { dir, config, db, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function writeConfig(sb: Sandbox, toml: string): void {
  writeFileSync(sb.config, toml);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const CLEAN_ENV = (() => {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), NO_COLOR: "1" };
  for (const k of Object.keys(env)) if (k.startsWith("INVITED_")) delete env[k];
  return env;
})();

/** Runs the real CLI. `config` adds `--config FILE` at the end unless null. */
export async function cli(args: string[], opts: { config?: string | null; env?: Record<string, string>; stdin?: string; cwd?: string; umask?: string } = {}): Promise<CliResult> {
  const argv = [...BIN, ...args];
  if (opts.config) argv.push("--config", opts.config);
  const proc = Bun.spawn(opts.umask === undefined ? argv : ["sh", "-c", `umask ${opts.umask} && exec "$@"`, "sh", ...argv], {
    cwd: opts.cwd ?? ROOT,
    env: { ...CLEAN_ENV, ...(opts.env ?? {}) },
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** A free TCP port on 127.0.0.1 (bound and released; good enough on a test machine). */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export interface TestServer {
  url: string;
  port: number;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the server printed so far (stdout + stderr). */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number>;
}

/** Starts `invited serve` for a sandbox on a free port and waits until /healthz answers. */
export async function startServer(sb: Sandbox, opts: { env?: Record<string, string>; port?: number; umask?: string } = {}): Promise<TestServer> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = opts.port ?? freePort();
    const argv = [...BIN, "serve", "--config", sb.config];
    // With a umask, through sh so that the server itself starts under it.
    const proc = Bun.spawn(opts.umask === undefined ? argv : ["sh", "-c", `umask ${opts.umask} && exec "$@"`, "sh", ...argv], {
      cwd: sb.dir,
      env: { ...CLEAN_ENV, INVITED_LISTEN: `127.0.0.1:${port}`, ...(opts.env ?? {}) },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    let out = "";
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      for await (const chunk of stream) out += dec.decode(chunk, { stream: true });
    };
    const pumps = Promise.all([pump(proc.stdout), pump(proc.stderr)]);
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15_000;
    let up = false;
    while (Date.now() < deadline && proc.exitCode === null) {
      try {
        const r = await fetch(`${url}/healthz`);
        if (r.status === 200) {
          up = true;
          break;
        }
      } catch {}
      await Bun.sleep(30);
    }
    if (!up) {
      proc.kill("SIGKILL");
      await proc.exited;
      await pumps;
      if (/address already in use/.test(out) && opts.port === undefined) continue;
      throw new Error(`server did not start:\n${out}`);
    }
    return {
      url,
      port,
      proc,
      output: () => out,
      async stop(signal = "SIGTERM") {
        if (proc.exitCode === null) proc.kill(signal);
        const code = await proc.exited;
        await pumps;
        return code;
      },
    };
  }
  throw new Error("no free port found");
}

/** Runs `fn` with a sandbox and a started server, always cleaning up. */
export async function withServer<T>(extra: string, fn: (s: TestServer, sb: Sandbox) => Promise<T>, opts: { env?: Record<string, string> } = {}): Promise<T> {
  const sb = sandbox(extra);
  const server = await startServer(sb, opts);
  try {
    return await fn(server, sb);
  } finally {
    await server.stop();
    sb.cleanup();
  }
}

export async function createKey(sb: Sandbox, host = "example.com", name?: string): Promise<string> {
  const r = await cli(["key", "create", host, ...(name ? [name] : [])], { config: sb.config });
  if (r.code !== 0) throw new Error(`key create failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** fetch that never follows redirects. */
export function get(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { redirect: "manual", ...init });
}

/** Sends raw bytes over TCP and returns the raw response head (for requests fetch() refuses to build). */
export async function rawRequest(port: number, bytes: string | Uint8Array, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    const timer = setTimeout(() => resolve(data), timeoutMs);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          s.write(bytes);
        },
        data(_s, chunk) {
          data += new TextDecoder().decode(chunk);
          if (/\r\n\r\n/.test(data)) {
            clearTimeout(timer);
            resolve(data);
          }
        },
        close() {
          clearTimeout(timer);
          resolve(data);
        },
        error(_s, e) {
          clearTimeout(timer);
          reject(e);
        },
      },
    }).catch(reject);
  });
}
