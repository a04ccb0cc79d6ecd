// Audit log benchmarks, callable from the bench runner or alone: `bun test/bench/audit.ts [rows]`.
//  - benchAccountQuery: one account's last 100 events with 1,000,000 rows stored (target: median <= 5 ms).
//  - benchPruneUnderLoad: a real server prunes 1,000,000 expired rows while clients keep creating invites; reports
//    the prune time and the worst request latency seen during it.
// Rows are filled with one bun:sqlite transaction and a prepared INSERT (~7 s per million here).
import { Database } from "bun:sqlite";
import { openContext } from "../../src/bootstrap.ts";
import { loadConfig } from "../../src/config/index.ts";
import { openDatabase } from "../../src/db/index.ts";
import { queryEvents } from "../../src/audit/service.ts";
import { createKey, sandbox, startServer, type Sandbox } from "../helpers.ts";

const DAY = 86_400_000;
const TYPES = ["invite.created", "invite.used", "key.auth_failed", "account.registered", "account.password_reset"];

export interface FillOptions {
  rows: number;
  host?: string;
  /** Accounts the user events are spread over; every 10th row is host-wide. */
  users?: number;
  /** Time of the oldest row; rows are one second apart. */
  startAt: number;
}

/** Creates the schema (real migrations) and fills audit_events. */
export function fillAuditRows(dbPath: string, o: FillOptions): { ms: number } {
  openDatabase(dbPath).close();
  const started = performance.now();
  const db = new Database(dbPath);
  try {
    const insert = db.prepare(
      "INSERT INTO audit_events (at, host, user, source, type, actor, ip, country_code, country_name, continent, user_agent, details) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
    );
    const users = o.users ?? 5000;
    const host = o.host ?? "example.com";
    db.transaction(() => {
      for (let i = 0; i < o.rows; i++) {
        const user = i % 10 === 0 ? "" : `user${i % users}`;
        insert.run(o.startAt + i * 1000, host, user, "web", TYPES[i % TYPES.length]!, "AbCdEfGhIjKl", "81.2.69.0/24", "GB", "United Kingdom", "Europe", "Mozilla/5.0 (X11; Linux x86_64)", `{"invite_id":"inv${i}"}`);
      }
    })();
  } finally {
    db.close();
  }
  return { ms: performance.now() - started };
}

function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { n: s.length, median: at(0.5), p95: at(0.95), p99: at(0.99), max: s[s.length - 1] ?? NaN };
}
const round = (x: number) => Math.round(x * 1000) / 1000;

export interface AccountQueryResult {
  rows: number;
  fillMs: number;
  runs: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
  limitMs: number;
  ok: boolean;
}

/** One account's last 100 events (queryEvents, as `invited audit USER@HOST --limit 100` runs it) over `rows` rows. */
export async function benchAccountQuery(opts: { rows?: number; runs?: number } = {}): Promise<AccountQueryResult> {
  const rows = opts.rows ?? 1_000_000;
  const runs = opts.runs ?? 1000;
  const users = Math.max(1, Math.floor(rows / 200)); // ~180 events per account, so every query returns a full 100
  const sb = sandbox();
  try {
    const fill = fillAuditRows(sb.db, { rows, users, startAt: Date.now() - rows * 1000 });
    const ctx = openContext(null, loadConfig(sb.config, {}));
    try {
      const times: number[] = [];
      for (let i = 0; i < runs + 50; i++) {
        const k = (i * 7919) % users;
        const user = `user${k % 10 === 0 ? k + 1 : k}`; // accounts k ≡ 0 (mod 10) own no rows: see fillAuditRows
        const t = performance.now();
        const events = queryEvents(ctx, { host: "example.com", user, limit: 100 });
        const ms = performance.now() - t;
        if (events.length === 0) throw new Error(`no events for ${user}`);
        if (i >= 50) times.push(ms); // the first 50 warm the statement cache
      }
      const s = stats(times);
      return { rows, fillMs: Math.round(fill.ms), runs, medianMs: round(s.median), p95Ms: round(s.p95), maxMs: round(s.max), limitMs: 5, ok: s.median <= 5 };
    } finally {
      ctx.db.close();
    }
  } finally {
    sb.cleanup();
  }
}

export interface PruneUnderLoadResult {
  rows: number;
  fillMs: number;
  pruneMs: number;
  batches: number;
  pruned: number;
  /** Requests that were in flight at some point during the prune. */
  requestsDuringPrune: number;
  worstLatencyMs: number;
  p99LatencyMs: number;
  medianLatencyMs: number;
  /** The same figures for requests that ran before or after the prune, for comparison. */
  baselineWorstMs: number;
  baselineMedianMs: number;
  concurrency: number;
}

/**
 * Starts `invited serve` over a database holding `rows` expired events; its first prune starts about a second after
 * start-up. Meanwhile `concurrency` clients create invites through /invites_api (a write per request, the path a
 * long transaction would stall) until the server logs the prune's end, and a little after.
 */
export async function benchPruneUnderLoad(opts: { rows?: number; concurrency?: number } = {}): Promise<PruneUnderLoadResult> {
  const rows = opts.rows ?? 1_000_000;
  const concurrency = opts.concurrency ?? 4;
  const sb: Sandbox = sandbox();
  try {
    const fill = fillAuditRows(sb.db, { rows, startAt: Date.now() - 60 * DAY });
    const secret = await createKey(sb);
    const server = await startServer(sb);
    const samples: { start: number; end: number }[] = [];
    const doneRe = /(\S+) audit: pruned (\d+) expired and (\d+) over-quota events in (\d+) ms \((\d+) batches\)/;
    let stopAt = Infinity;
    try {
      const client = async () => {
        while (performance.now() < stopAt) {
          const start = performance.now();
          const r = await fetch(`${server.url}/invites_api`, { method: "POST", headers: { Authorization: `Bearer ${secret}` } });
          await r.arrayBuffer();
          if (r.status !== 201) throw new Error(`invite creation answered ${r.status}`);
          samples.push({ start, end: performance.now() });
        }
      };
      // Keep going one second past the prune's end (then the "outside" figures include some after it too).
      const watch = setInterval(() => {
        if (stopAt === Infinity && doneRe.test(server.output())) stopAt = performance.now() + 1000;
      }, 100);
      const deadline = setTimeout(() => (stopAt = 0), 10 * 60_000);
      await Promise.all(Array.from({ length: concurrency }, client));
      clearInterval(watch);
      clearTimeout(deadline);
    } finally {
      await server.stop();
    }
    const m = doneRe.exec(server.output());
    if (!m) throw new Error(`the server never reported the prune:\n${server.output().slice(-2000)}`);
    // The log line's wall-clock stamp, mapped onto this process's performance clock.
    const endWall = Date.parse(m[1]!);
    const pruneMs = Number(m[4]);
    const endPerf = endWall - (Date.now() - performance.now());
    const startPerf = endPerf - pruneMs;
    const during = samples.filter((s) => s.end >= startPerf && s.start <= endPerf).map((s) => s.end - s.start);
    const outside = samples.filter((s) => s.end < startPerf || s.start > endPerf).map((s) => s.end - s.start);
    const d = stats(during);
    const b = stats(outside);
    return {
      rows,
      fillMs: Math.round(fill.ms),
      pruneMs,
      batches: Number(m[5]),
      pruned: Number(m[2]),
      requestsDuringPrune: d.n,
      worstLatencyMs: round(d.max),
      p99LatencyMs: round(d.p99),
      medianLatencyMs: round(d.median),
      baselineWorstMs: round(b.max),
      baselineMedianMs: round(b.median),
      concurrency,
    };
  } finally {
    sb.cleanup();
  }
}

if (import.meta.main) {
  const rows = Number(process.argv[2] ?? 1_000_000);
  const q = await benchAccountQuery({ rows });
  console.log(`audit: one account's last 100 events, ${q.rows} rows stored: median ${q.medianMs} ms, p95 ${q.p95Ms} ms, max ${q.maxMs} ms over ${q.runs} runs (limit ${q.limitMs} ms: ${q.ok ? "ok" : "TOO SLOW"})`);
  const p = await benchPruneUnderLoad({ rows });
  console.log(
    `audit: pruning ${p.pruned} expired rows while serving: ${p.pruneMs} ms in ${p.batches} batches; ${p.requestsDuringPrune} invite creations meanwhile (${p.concurrency} clients): ` +
      `worst ${p.worstLatencyMs} ms, p99 ${p.p99LatencyMs} ms, median ${p.medianLatencyMs} ms (outside the prune: worst ${p.baselineWorstMs} ms, median ${p.baselineMedianMs} ms)`,
  );
}
