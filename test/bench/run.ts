// npm run bench: builds dist/invited, then measures it against a bare Bun.serve baseline with wrk in the same run.
// Each scenario alternates baseline and invited runs and reports medians, because this machine is shared and noisy.
import { $ } from "bun";
import { BIN, ROOT, fillInvites, fmt, median, startBaseline, startInvited, wrk, type WrkResult } from "./lib.ts";
import { benchAccountQuery, benchPruneUnderLoad } from "./audit.ts";
import { runScaleBench } from "./scale.ts";
import { runConsoleBench } from "./console.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);

function summary(rs: WrkResult[]) {
  return { rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), statuses: rs.map((r) => r.statuses).join("; ") };
}

function line(name: string, s: ReturnType<typeof summary>, ratio?: { label: string; value: number; target?: number }) {
  const r = ratio ? `  ${ratio.label} ${ratio.value.toFixed(2)}${ratio.target !== undefined ? ` (target >= ${ratio.target}: ${ratio.value >= ratio.target ? "met" : "NOT met"})` : ""}` : "";
  console.log(`${name.padEnd(44)} ${fmt(s.rps).padStart(8)} req/s  p50 ${s.p50.toFixed(2)} ms  p99 ${s.p99.toFixed(2)} ms${r}`);
}

async function main() {
  if (!process.env.INVITED_BIN) {
    console.log("building dist/invited ...");
    await $`npm run build`.cwd(ROOT).quiet();
  }
  console.log(`wrk: ${CONNECTIONS} connections, ${SECONDS}s per run, ${ROUNDS} rounds; medians reported\n`);

  const baseline = await startBaseline();
  const plain = await startInvited();
  const wrongKey = `${plain.key.split("/")[0]}/${"A".repeat(43)}`;
  const base: WrkResult[] = [];
  const create: WrkResult[] = [];
  const forbidden: WrkResult[] = [];
  const preflight: WrkResult[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      base.push(await wrk(`${baseline.url}/invites_api`, { connections: CONNECTIONS, seconds: SECONDS }));
      create.push(await wrk(`${plain.url}/invites_api`, { connections: CONNECTIONS, seconds: SECONDS, header: `Bearer ${plain.key}` }));
      forbidden.push(await wrk(`${plain.url}/invites_api`, { connections: CONNECTIONS, seconds: SECONDS, header: `Bearer ${wrongKey}` }));
      // The floor under (b): the same route answering a CORS preflight, with no key check and no database read.
      preflight.push(await wrk(`${plain.url}/invites_api`, { connections: CONNECTIONS, seconds: SECONDS, method: "OPTIONS" }));
    }
  } finally {
    await plain.stop();
  }

  // Issue 4: invite creation with the audit log on (the default) against the same with [audit] enabled = false.
  const auditOff = await startInvited("[audit]\nenabled = false\n");
  const auditOn = await startInvited();
  const createOn: WrkResult[] = [];
  const createOff: WrkResult[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      createOff.push(await wrk(`${auditOff.url}/invites_api`, { connections: CONNECTIONS, seconds: SECONDS, header: `Bearer ${auditOff.key}` }));
      createOn.push(await wrk(`${auditOn.url}/invites_api`, { connections: CONNECTIONS, seconds: SECONDS, header: `Bearer ${auditOn.key}` }));
    }
  } finally {
    await auditOff.stop();
    await auditOn.stop();
  }

  console.log("preparing 1,000,000 stored invites ...");
  const big = await startInvited("", (db) => fillInvites(db, 1_000_000));
  const createBig: WrkResult[] = [];
  const base2: WrkResult[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      base2.push(await wrk(`${baseline.url}/invites_api`, { connections: CONNECTIONS, seconds: SECONDS }));
      createBig.push(await wrk(`${big.url}/invites_api`, { connections: CONNECTIONS, seconds: SECONDS, header: `Bearer ${big.key}` }));
    }
  } finally {
    await big.stop();
    await baseline.stop();
  }

  const b = summary([...base, ...base2]);
  const a = summary(create);
  const f = summary(forbidden);
  const c = summary(createBig);
  console.log("");
  line("baseline: bare Bun.serve 201 + Location", b);
  line("(a) invite creation, Bearer key, committed", a, { label: "a/baseline", value: a.rps / b.rps, target: 0.25 });
  line("(b) wrong key, 403", f, { label: "b/baseline", value: f.rps / b.rps, target: 0.5 });
  line("(c) invite creation, 1,000,000 stored", c, { label: "c/a", value: c.rps / a.rps, target: 0.9 });
  const o = summary(preflight);
  line("floor: OPTIONS preflight, no key, no db", o, { label: "floor/baseline", value: o.rps / b.rps });
  const on = summary(createOn);
  const off = summary(createOff);
  line("audit off: invite creation", off);
  line("audit on: invite creation", on, { label: "on/off", value: on.rps / off.rps, target: 0.8 });
  console.log(`\nstatus checks: (a) ${a.statuses}\n               (b) ${f.statuses}\n               (c) ${c.statuses}`);
  await threadsAndLanding();
}

/**
 * Issue 22: the landing page against a bare server answering a body of the same size, and every ratio again with
 * wrk -t2 (the ratios move with the load generator, so both are printed). Alternating rounds, medians.
 */
async function threadsAndLanding() {
  const baseline = await startBaseline();
  const inv = await startInvited();
  try {
    const made = Bun.spawnSync([BIN, "invite", "create", "example.com", "--unlimited", "--config", inv.config], { stdout: "pipe", stderr: "pipe" });
    const link = new URL(made.stdout.toString().trim());
    const landing = `${inv.url}${link.pathname}${link.search}`;
    const first = await fetch(landing);
    const bytes = (await first.arrayBuffer()).byteLength;
    if (first.status !== 200) throw new Error(`landing page answered ${first.status}`);
    const wrongKey = `${inv.key.split("/")[0]}/${"A".repeat(43)}`;
    const cases = [
      { name: `landing page GET /invite?TOKEN (${fmt(bytes / 1024, 1)} KB)`, base: `${baseline.url}/page?bytes=${bytes}`, url: landing, target: 0.4 },
      { name: "invite creation, committed and audited", base: `${baseline.url}/invites_api`, url: `${inv.url}/invites_api`, header: `Bearer ${inv.key}`, target: 0.35 },
      { name: "wrong key, 403", base: `${baseline.url}/invites_api`, url: `${inv.url}/invites_api`, header: `Bearer ${wrongKey}`, target: 0.5 },
      { name: "floor: OPTIONS preflight", base: `${baseline.url}/invites_api`, url: `${inv.url}/invites_api`, method: "OPTIONS", target: 0.7 },
    ];
    console.log("");
    for (const c of cases) {
      const cells: string[] = [];
      for (const threads of [1, 2]) {
        const b: WrkResult[] = [];
        const x: WrkResult[] = [];
        for (let i = 0; i < ROUNDS; i++) {
          b.push(await wrk(c.base, { connections: CONNECTIONS, seconds: SECONDS, threads }));
          x.push(await wrk(c.url, { connections: CONNECTIONS, seconds: SECONDS, threads, header: c.header, method: c.method }));
        }
        const sb = summary(b);
        const sx = summary(x);
        const ratio = sx.rps / sb.rps;
        cells.push(`-t${threads}: ${fmt(sx.rps).padStart(7)} / ${fmt(sb.rps).padStart(7)} = ${ratio.toFixed(3)} (p99 ${sx.p99.toFixed(1)} ms)${threads === 1 ? ` target >= ${c.target}: ${ratio >= c.target ? "met" : "NOT met"}` : ""}`);
      }
      console.log(`${c.name.padEnd(44)} ${cells.join("   ")}`);
    }
  } finally {
    await inv.stop();
    await baseline.stop();
  }
}

async function auditAndScale() {
  // Issue 4: reading one account's events, and pruning, with 1,000,000 rows stored.
  const q = await benchAccountQuery({ rows: 1_000_000 });
  console.log(`\naudit: one account's last 100 events, 1,000,000 rows stored: median ${q.medianMs} ms, p95 ${q.p95Ms} ms over ${q.runs} runs (limit ${q.limitMs} ms: ${q.ok ? "met" : "NOT met"})`);
  const p = await benchPruneUnderLoad({ rows: 1_000_000 });
  console.log(
    `audit: pruning ${fmt(p.pruned)} expired rows while serving took ${(p.pruneMs / 1000).toFixed(1)} s in ${p.batches} batches; ` +
      `invite creation meanwhile (${p.concurrency} clients): median ${p.medianLatencyMs} ms, p99 ${p.p99LatencyMs} ms, worst ${p.worstLatencyMs} ms ` +
      `(outside the prune: median ${p.baselineMedianMs} ms, worst ${p.baselineWorstMs} ms)`,
  );

  // Issue 7: invite creation at 64 connections over 1M invites + 1M audit rows; latency and memory.
  const r = await runScaleBench({ bin: BIN, invites: 1_000_000, auditRows: 1_000_000, connections: 64, duration: `${Math.max(SECONDS, 5)}s`, runs: ROUNDS });
  const rps = median(r.runs.map((x) => x.requestsPerSec));
  const p99 = median(r.runs.map((x) => x.p99Ms));
  console.log(`\nscale: 1,000,000 invites + 1,000,000 audit rows, 64 connections: median ${fmt(rps)} req/s, p99 ${p99} ms (runs: ${r.runs.map((x) => fmt(x.requestsPerSec)).join(", ")})`);
  console.log(`scale: RSS idle ${r.idleRssMiB} MiB (target < 64: ${r.checks.idleRssUnder64MiB ? "met" : "NOT met"}); after each run ${r.runs.map((x) => x.rssAfterRunMiB).join(", ")} MiB, settled ${r.runs.map((x) => x.rssSettledMiB).join(", ")} MiB; growth first→last ${r.rssGrowthMiB} MiB (${r.checks.noRssGrowth ? "no growth" : "GROWS"})`);
}

await main();
if (!process.env.BENCH_QUICK) await auditAndScale();
// Issue 18: the admin console's pages with 1M audit events, 100k accounts, 100k invites (BENCH_CONSOLE=0 skips).
if (process.env.BENCH_CONSOLE !== "0") await runConsoleBench();
