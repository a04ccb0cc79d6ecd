// Issue 18, requirement 4: every admin console page with 1,000,000 audit events, 100,000 accounts and 100,000 invites
// stored; median and p99 of each page (sequential requests from one signed-in admin), each as a ratio to the invite
// landing page measured in the same run, and the query plans of the console's queries.
// Part of `npm run bench`; alone: `bun test/bench/console.ts` (INVITED_BIN=... to use another binary).
import { Database } from "bun:sqlite";
import * as OTPAuth from "otpauth";
import { BIN, fmt, startInvited } from "./lib.ts";
import { sortableId } from "../../src/lib/tokens.ts";

const AUDIT = Number(process.env.BENCH_CONSOLE_AUDIT ?? 1_000_000);
const ACCOUNTS = Number(process.env.BENCH_CONSOLE_ACCOUNTS ?? 100_000);
const INVITES = Number(process.env.BENCH_CONSOLE_INVITES ?? 100_000);
const RUNS = Number(process.env.BENCH_CONSOLE_RUNS ?? 200);
const DAY = 86_400_000;

const COUNTRIES = ["US", "DE", "GB", "FR", "NL", "JP", "BR", "IN", "AU", "CA", "SE", "PL", "UA", "ZA", "AR", null];
const TYPES = ["invite.created", "invite.used", "account.registered", "account.login", "account.login_failed", "key.auth_failed", "registration.refused"];

function fill(dbPath: string) {
  const db = new Database(dbPath);
  db.exec("PRAGMA journal_mode = WAL");
  const now = Date.now();
  db.transaction(() => {
    const acc = db.prepare("INSERT INTO accounts (host, username, password_hash, roles, groups, created_at, skeleton, invited_by) VALUES ('example.com', ?1, NULL, '[]', '[]', ?2, ?1, ?3)");
    for (let i = 0; i < ACCOUNTS; i++) acc.run(`member${i}`, now - Math.floor((i / ACCOUNTS) * 365 * DAY), i > 10 && i % 4 === 0 ? `account/member${i % 10}@example.com` : "cli");
    const inv = db.prepare("INSERT INTO invites (id, host, kind, token_hash, created_at, expires_at, max_uses, uses, created_by) VALUES (?1, 'example.com', 'account', ?2, ?3, ?4, 1, ?5, ?6)");
    for (let i = 0; i < INVITES; i++) {
      const at = now - (INVITES - i) * 60_000;
      inv.run(sortableId(at), `bench${i}`.padEnd(64, "0"), at, at + 7 * DAY, i % 3 === 0 ? 1 : 0, ["cli", "api/token/abcdefghijkl", `account/member${i % 50}@example.com`, "console/ada@example.com"][i % 4]!);
    }
    const ev = db.prepare("INSERT INTO audit_events (at, host, user, source, type, actor, ip, country_code, details) VALUES (?1, 'example.com', ?2, 'web', ?3, 'bench', ?4, ?5, '{}')");
    for (let i = 0; i < AUDIT; i++) {
      const c = COUNTRIES[i % COUNTRIES.length]!;
      ev.run(now - Math.floor(((AUDIT - i) / AUDIT) * 90 * DAY), i % 3 === 0 ? "" : `member${i % ACCOUNTS}`, TYPES[i % TYPES.length]!, `203.0.${i % 256}.0/24`, c);
    }
  })();
  db.exec("ANALYZE");
  db.close();
}

function cliRun(config: string, args: string[]): string {
  const r = Bun.spawnSync([BIN, ...args, "--config", config], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout.toString();
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export async function runConsoleBench(): Promise<boolean> {
  console.log(`\nconsole: filling ${fmt(AUDIT)} audit events, ${fmt(ACCOUNTS)} accounts, ${fmt(INVITES)} invites ...`);
  const inst = await startInvited("", fill); // one sign-in: the default throttles never bite
  try {
    // The admin: a password hash written directly (the registration form is not what is measured), role and TOTP from the CLI.
    const db = new Database(inst.db);
    db.run("INSERT INTO accounts (host, username, password_hash, roles, groups, created_at, skeleton) VALUES ('example.com', 'ada', ?1, '[]', '[]', ?2, 'ada')", [await Bun.password.hash("bench password"), Date.now()]);
    db.close();
    cliRun(inst.config, ["user", "role", "add", "example.com", "ada", "admin"]);
    const uri = /otpauth:\/\/\S+/.exec(cliRun(inst.config, ["user", "totp", "example.com", "ada"]))![0];
    const landing = cliRun(inst.config, ["invite", "create", "example.com"]).trim().split("?")[1]!;
    const origin = "https://example.com";
    const login = await fetch(`${inst.url}/account/login`);
    const loginCookie = login.headers.getSetCookie()[0]!.split(";")[0]!;
    const csrf = /name="csrf" value="([^"]*)"/.exec(await login.text())![1]!;
    const code = (OTPAuth.URI.parse(uri) as OTPAuth.TOTP).generate();
    const signed = await fetch(`${inst.url}/account/login`, {
      method: "POST",
      redirect: "manual",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: loginCookie, Origin: origin },
      body: new URLSearchParams({ csrf, user: "ada", password: "bench password", totp: code }).toString(),
    });
    const session = signed.headers.getSetCookie().find((c) => c.includes("invited_session="))!.split(";")[0]!;
    const pages: [string, string][] = [
      ["landing page (reference)", `/invite?${landing}`],
      ["dashboard", "/admin"],
      ["map, 30 days", "/admin/map"],
      ["map, 365 days, one type", "/admin/map?window=365d&type=account.login_failed"],
      ["invites", "/admin/invites"],
      ["invites, status + creator", "/admin/invites?status=active&creator=member"],
      ["invite with ledger", null as never],
      ["accounts", "/admin/accounts"],
      ["accounts, search", "/admin/accounts?q=member99"],
      ["account with tree + events", "/admin/accounts/member3"],
      ["keys", "/admin/keys"],
      ["audit", "/admin/audit"],
      ["audit, country + type", "/admin/audit?country=JP&type=account.login_failed"],
      ["audit, IP prefix", "/admin/audit?ip=203.0.7."],
      ["audit, user", "/admin/audit?user=member42"],
      ["outbox", "/admin/outbox"],
    ];
    const someInvite = new Database(inst.db, { readonly: true }).query("SELECT id FROM invites ORDER BY created_at DESC LIMIT 1").get() as { id: string };
    pages[6] = ["invite with ledger", `/admin/invites/${someInvite.id}`];
    const results: { name: string; median: number; p99: number }[] = [];
    for (const [name, path] of pages) {
      const times: number[] = [];
      for (let i = 0; i < RUNS + 5; i++) {
        const t0 = performance.now();
        const r = await fetch(`${inst.url}${path}`, { headers: { Cookie: session } });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
        if (i >= 5) times.push(performance.now() - t0); // the first few warm caches
      }
      results.push({ name, median: pct(times, 50), p99: pct(times, 99) });
    }
    const ref = results[0]!;
    let ok = true;
    console.log(`console pages, ${RUNS} sequential requests each (targets: median <= 50 ms, p99 <= 150 ms):`);
    for (const r of results) {
      const met = r.median <= 50 && r.p99 <= 150;
      if (r !== ref) ok &&= met;
      console.log(`  ${r.name.padEnd(30)} median ${r.median.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  ×landing ${(r.median / ref.median).toFixed(1).padStart(5)}${r === ref ? "" : met ? "  met" : "  NOT met"}`);
    }
    const ro = new Database(inst.db, { readonly: true });
    const since = Date.now() - 30 * DAY;
    const plans: [string, string, unknown[]][] = [
      ["registrations per day", "SELECT (created_at / 86400000) * 86400000 AS day, count(*) FROM accounts WHERE host = ?1 AND created_at >= ?2 GROUP BY day", ["example.com", since]],
      ["events by country", "SELECT country_code, count(*) FROM audit_events WHERE host IN (?1, '') AND at >= ?2 GROUP BY country_code", ["example.com", since]],
      ["failures in 24 h", "SELECT type, count(*) FROM audit_events WHERE host IN (?1, '') AND at >= ?2 AND +type IN ('key.auth_failed', 'auth.lockout') GROUP BY type", ["example.com", Date.now() - DAY]],
      ["audit by country", "SELECT id FROM audit_events WHERE host = ?1 AND +country_code = 'JP' ORDER BY at DESC, id DESC LIMIT 51", ["example.com"]],
      ["account search", "SELECT id FROM accounts WHERE host = ?1 AND username LIKE ?2 ESCAPE '\\' AND username > '' ORDER BY username LIMIT 51", ["example.com", "member99%"]],
      ["invites by creator", "SELECT id FROM invites WHERE host = ?1 AND substr(created_by, 1, 8) = 'account/' ORDER BY created_at DESC, id DESC LIMIT 51", ["example.com"]],
    ];
    console.log("query plans:");
    for (const [name, sql, args] of plans) {
      const rows = ro.query(`EXPLAIN QUERY PLAN ${sql}`).all(...(args as never[])) as { detail: string }[];
      console.log(`  ${name}: ${rows.map((r) => r.detail).join(" / ")}`);
    }
    ro.close();
    return ok;
  } finally {
    await inst.stop();
  }
}

if (import.meta.main) await runConsoleBench();
