// Benchmark: invite creation at scale, against the compiled binary.
//
//   bun test/bench/scale.ts [--invites 1000000] [--audit 1000000] [--connections 64] [--duration 10s] [--runs 3]
//                           [--bin dist/invited] [--json]
//
// or from the bench runner: `import { runScaleBench } from "./scale.ts"; const r = await runScaleBench({...})`.
//
// 1. builds the binary (unless --bin), pre-fills a fresh database with N invites and M audit rows in one transaction,
// 2. starts `invited serve`, lets it settle and reads its idle RSS (VmRSS from /proc/PID/status),
// 3. runs wrk (POST /invites_api with a valid key, 64 connections) several times, recording requests/s, p50/p99
//    latency and RSS right after each run and after it settles again,
// 4. checks the targets: idle RSS < 64 MiB, and RSS does not grow from run to run.
// Loopback only; every run is bounded by --duration. Needs `wrk` (apt-get install -y wrk).
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { openDatabase } from "../../src/db/index.ts";
import { fillAudit, fillInvites, freePort } from "./lib.ts";

const ROOT = join(import.meta.dir, "../..");

export interface ScaleBenchOptions {
  invites?: number;
  auditRows?: number;
  connections?: number;
  /** wrk duration per run, e.g. "10s". */
  duration?: string;
  runs?: number;
  /** A built binary; default: build one into a temp dir with `bun scripts/build.ts`. */
  bin?: string;
  /** Seconds to let the process settle before reading an "idle" RSS. */
  settleSeconds?: number;
  log?: (line: string) => void;
}

export interface ScaleRun {
  requestsPerSec: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  socketErrors: number;
  rssAfterRunMiB: number;
  rssSettledMiB: number;
}

export interface ScaleBenchResult {
  binary: string;
  prefill: { invites: number; auditRows: number; seconds: number; databaseMiB: number };
  startupMs: number;
  idleRssMiB: number;
  runs: ScaleRun[];
  /** RSS after the last run minus after the first (settled), in MiB. */
  rssGrowthMiB: number;
  finalInvites: number;
  checks: { idleRssUnder64MiB: boolean; noRssGrowth: boolean; all2xx: boolean };
}

const MiB = 1024 * 1024;

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Milliseconds from a wrk latency figure like "812.00us", "3.21ms", "1.02s". */
function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
}

export function parseWrk(out: string): Omit<ScaleRun, "rssAfterRunMiB" | "rssSettledMiB"> {
  const pct = (p: string) => wrkMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out)?.[1] ?? "");
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSec: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN)),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    p50Ms: pct("50"),
    p99Ms: pct("99"),
    maxMs: wrkMs(/Latency\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? ""),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: errors ? errors.slice(1).reduce((n, x) => n + Number(x), 0) : 0,
  };
}

/** A migrated database holding `invites` invites and `auditRows` audit rows (the bench runner's fillers). */
export function prefill(path: string, host: string, invites: number, auditRows: number): number {
  const t0 = performance.now();
  openDatabase(path).close(); // schema via the real migrations
  fillInvites(path, invites, host);
  fillAudit(path, auditRows, { host });
  const db = new Database(path);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  return (performance.now() - t0) / 1000;
}

export async function runScaleBench(opts: ScaleBenchOptions = {}): Promise<ScaleBenchResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const invites = opts.invites ?? 1_000_000;
  const auditRows = opts.auditRows ?? 1_000_000;
  const connections = opts.connections ?? 64;
  const duration = opts.duration ?? "10s";
  const runs = opts.runs ?? 3;
  const settle = (opts.settleSeconds ?? 3) * 1000;
  if (Bun.spawnSync(["sh", "-c", "command -v wrk"]).exitCode !== 0) throw new Error("wrk is not installed (apt-get install -y wrk)");

  const dir = mkdtempSync(join(tmpdir(), "invited-bench-"));
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  try {
    let bin = opts.bin;
    if (!bin) {
      bin = join(dir, "invited");
      log("building the binary…");
      const b = Bun.spawnSync([process.execPath, join(ROOT, "scripts/build.ts")], { cwd: ROOT, env: { ...process.env, INVITED_OUT: bin }, stdout: "pipe", stderr: "pipe" });
      if (b.exitCode !== 0) throw new Error(`build failed: ${b.stderr.toString()}`);
    }
    if (!existsSync(bin)) throw new Error(`no binary at ${bin}`);

    const host = "example.com";
    const dbPath = join(dir, "invited.db");
    log(`pre-filling ${invites} invites and ${auditRows} audit rows…`);
    const prefillSeconds = prefill(dbPath, host, invites, auditRows);
    const databaseMiB = Math.round(statSync(dbPath).size / MiB);
    const port = freePort();
    const config = join(dir, "invited.toml");
    writeFileSync(
      config,
      `[server]\nlisten = "127.0.0.1:${port}"\nrequest_log = false\n[database]\npath = ${JSON.stringify(dbPath)}\n[hosts.${JSON.stringify(host)}]\npublic_url = "https://${host}"\n`,
    );
    const keyRun = Bun.spawnSync([bin, "key", "create", host, "bench", "--config", config], { stdout: "pipe", stderr: "pipe" });
    if (keyRun.exitCode !== 0) throw new Error(`key create failed: ${keyRun.stderr.toString()}`);
    const key = keyRun.stdout.toString().trim();
    const lua = join(dir, "auth.lua");
    writeFileSync(lua, `wrk.method = "POST"\nwrk.headers["Authorization"] = "Bearer ${key}"\n`);

    const t0 = performance.now();
    proc = Bun.spawn([bin, "serve", "--config", config], { stdout: "ignore", stderr: "pipe" });
    let up = false;
    for (let i = 0; i < 500 && !up; i++) {
      up = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
      if (!up) await Bun.sleep(10);
    }
    if (!up) throw new Error("server did not start");
    const startupMs = Math.round(performance.now() - t0);
    await Bun.sleep(settle);
    const idleRssMiB = rssMiB(proc.pid);
    log(`idle RSS ${idleRssMiB} MiB (started in ${startupMs} ms)`);

    const results: ScaleRun[] = [];
    for (let r = 0; r < runs; r++) {
      const w = Bun.spawnSync(["wrk", "-t2", `-c${connections}`, `-d${duration}`, "--latency", "-s", lua, `http://127.0.0.1:${port}/invites_api`], { stdout: "pipe", stderr: "pipe" });
      const out = w.stdout.toString();
      if (w.exitCode !== 0) throw new Error(`wrk failed: ${w.stderr.toString()}`);
      const rssAfterRunMiB = rssMiB(proc.pid);
      await Bun.sleep(settle);
      const run: ScaleRun = { ...parseWrk(out), rssAfterRunMiB, rssSettledMiB: rssMiB(proc.pid) };
      results.push(run);
      log(`run ${r + 1}: ${run.requestsPerSec} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, non-2xx ${run.non2xx}, RSS ${run.rssAfterRunMiB} → ${run.rssSettledMiB} MiB`);
    }
    proc.kill("SIGTERM");
    const code = await proc.exited;
    if (code !== 0) throw new Error(`server exited ${code}: ${await new Response(proc.stderr as ReadableStream).text()}`);
    proc = null;

    const db = new Database(dbPath, { readonly: true });
    const finalInvites = (db.query("SELECT count(*) AS n FROM invites").get() as { n: number }).n;
    db.close();
    const growth = Math.round((results.at(-1)!.rssSettledMiB - results[0]!.rssSettledMiB) * 10) / 10;
    return {
      binary: bin,
      prefill: { invites, auditRows, seconds: Math.round(prefillSeconds * 10) / 10, databaseMiB },
      startupMs,
      idleRssMiB,
      runs: results,
      rssGrowthMiB: growth,
      finalInvites,
      checks: {
        idleRssUnder64MiB: idleRssMiB < 64,
        // Allow allocator noise: less than 5% of the first settled figure.
        noRssGrowth: growth < Math.max(3, results[0]!.rssSettledMiB * 0.05),
        all2xx: results.every((r) => r.non2xx === 0 && r.socketErrors === 0),
      },
    };
  } finally {
    if (proc) {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const num = (name: string) => (arg(name) === undefined ? undefined : Number(arg(name)));
  const result = await runScaleBench({
    invites: num("invites"),
    auditRows: num("audit"),
    connections: num("connections"),
    duration: arg("duration"),
    runs: num("runs"),
    bin: arg("bin"),
  });
  if (args.includes("--json")) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`prefill: ${result.prefill.invites} invites + ${result.prefill.auditRows} audit rows in ${result.prefill.seconds}s (${result.prefill.databaseMiB} MiB)`);
    console.log(`idle RSS: ${result.idleRssMiB} MiB; startup ${result.startupMs} ms`);
    for (const [i, r] of result.runs.entries())
      console.log(`run ${i + 1}: ${r.requestsPerSec} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, max ${r.maxMs} ms, RSS after ${r.rssAfterRunMiB} MiB, settled ${r.rssSettledMiB} MiB`);
    console.log(`RSS growth first→last run: ${result.rssGrowthMiB} MiB; invites now ${result.finalInvites}`);
    console.log(`checks: ${JSON.stringify(result.checks)}`);
  }
  process.exit(Object.values(result.checks).every(Boolean) ? 0 : 1);
}
