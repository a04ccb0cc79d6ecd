// Shared pieces of `npm run bench`: starting servers, driving wrk, and reporting medians.
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import type { Subprocess } from "bun";
import { sortableId } from "../../src/lib/tokens.ts";

export const ROOT = join(import.meta.dir, "../..");
export const BIN = process.env.INVITED_BIN ?? join(ROOT, "dist/invited");

export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = s.port;
  s.stop(true);
  return p;
}

export async function waitFor(url: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      await fetch(url);
      return;
    } catch {
      await Bun.sleep(50);
    }
  }
  throw new Error(`${url} did not come up`);
}

export interface WrkResult {
  rps: number;
  p50: number; // ms
  p99: number; // ms
  statuses: string;
}

/** Runs wrk against `url` with an optional Authorization header and method; counts non-2xx/3xx to make sure we measure what we think. */
export async function wrk(url: string, opts: { connections: number; seconds: number; header?: string; threads?: number; method?: string }): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), "invited-wrk-"));
  const script = join(dir, "s.lua");
  writeFileSync(
    script,
    `${opts.header ? `wrk.headers["Authorization"] = ${JSON.stringify(opts.header)}\n` : ""}${opts.method ? `wrk.method = ${JSON.stringify(opts.method)}\n` : ""}
local counts = {}
response = function(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
done = function(summary, latency, requests)
  io.write(string.format("P50 %f\\nP99 %f\\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
`,
  );
  const args = ["wrk", `-t${opts.threads ?? 1}`, `-c${opts.connections}`, `-d${opts.seconds}s`, "-s", script, url];
  // Async spawn, so a server living in this same process keeps serving while wrk runs.
  const p = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  rmSync(dir, { recursive: true, force: true });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = Number(/P50 ([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p99 = Number(/P99 ([\d.]+)/.exec(out)?.[1] ?? NaN);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? "0";
  const errors = /Socket errors: (.*)/.exec(out)?.[1] ?? "none";
  if (!Number.isFinite(rps)) throw new Error(`wrk failed: ${out}\n${err}`);
  return { rps, p50, p99, statuses: `non-2xx/3xx=${non2xx} socket-errors=${errors}` };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface Running {
  url: string;
  proc: Subprocess;
  stop(): Promise<void>;
}

export async function startBaseline(): Promise<Running> {
  const port = freePort();
  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "baseline.ts"), String(port)], { stdout: "ignore", stderr: "inherit" });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(url);
  return { url, proc, stop: async () => void (proc.kill("SIGTERM"), await proc.exited) };
}

export interface InvitedInstance extends Running {
  dir: string;
  db: string;
  key: string;
  config: string;
}

/** A temp dir with a config, a key created by the real binary, and `dist/invited serve` started on a free port. */
export async function startInvited(extraToml = "", prepare?: (dbPath: string) => void, serverToml = ""): Promise<InvitedInstance> {
  const dir = mkdtempSync(join(tmpdir(), "invited-bench-"));
  const db = join(dir, "invited.db");
  const port = freePort();
  const config = join(dir, "invited.toml");
  writeFileSync(
    config,
    `[server]\nlisten = "127.0.0.1:${port}"\n${serverToml}\n[database]\npath = ${JSON.stringify(db)}\n[limits]\nauth_failures = 0\n[hosts."example.com"]\npublic_url = "https://example.com"\n${extraToml}\n`,
  );
  const k = Bun.spawnSync([BIN, "key", "create", "example.com", "bench", "--config", config], { stdout: "pipe", stderr: "pipe" });
  if (k.exitCode !== 0) throw new Error(`key create failed: ${k.stderr}`);
  const key = k.stdout.toString().trim();
  prepare?.(db);
  const log = Bun.file(join(dir, "server.log"));
  const proc = Bun.spawn([BIN, "serve", "--config", config], { stdout: log, stderr: log });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/healthz`);
  return {
    url,
    proc,
    dir,
    db,
    key,
    config,
    stop: async () => {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fills the invites table with `n` rows directly (one transaction, prepared insert): the "1M invites stored" state. */
export function fillInvites(dbPath: string, n: number, host = "example.com"): void {
  const db = new Database(dbPath);
  db.exec("PRAGMA journal_mode = WAL");
  const now = Date.now();
  const ins = db.prepare(
    "INSERT INTO invites (id, host, kind, token_hash, created_at, expires_at, max_uses, created_by) VALUES (?, ?, 'account', ?, ?, ?, 1, 'cli')",
  );
  const seed = randomBytes(8).toString("hex");
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const at = now - (n - i) * 10;
      ins.run(sortableId(at), host, createHash("sha256").update(seed + i).digest("hex"), at, now + 86_400_000);
    }
  })();
  db.close();
}

/** Fills audit_events with `n` rows spread over `users` accounts. */
export function fillAudit(dbPath: string, n: number, opts: { host?: string; users?: number; at?: (i: number) => number } = {}): void {
  const db = new Database(dbPath);
  db.exec("PRAGMA journal_mode = WAL");
  const host = opts.host ?? "example.com";
  const users = opts.users ?? 10_000;
  const now = Date.now();
  const ins = db.prepare("INSERT INTO audit_events (at, host, user, source, type, actor, ip, details) VALUES (?, ?, ?, 'api', 'invite.created', 'bench', '81.2.69.0/24', '{}')");
  db.transaction(() => {
    for (let i = 0; i < n; i++) ins.run(opts.at ? opts.at(i) : now - (n - i), host, i % 3 === 0 ? "" : `user${i % users}`);
  })();
  db.close();
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
