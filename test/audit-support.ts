// Shared by the test/audit-*.test.ts files: read and seed the audit table of a sandbox database directly.
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { expect } from "bun:test";
import { cli, get, ROOT, type Sandbox, type TestServer } from "./helpers.ts";
import { openContext } from "../src/bootstrap.ts";

export const BUILTIN_MMDB = join(ROOT, "node_modules/@ip-location-db/geo-whois-asn-country-mmdb/geo-whois-asn-country.mmdb");

export interface Row {
  id: number;
  at: number;
  host: string;
  user: string;
  source: string;
  type: string;
  actor: string | null;
  ip: string | null;
  country_code: string | null;
  country_name: string | null;
  continent: string | null;
  user_agent: string | null;
  details: string;
}

/** A second connection to the sandbox database (the server may be running: WAL lets both work). */
export function openDb(sb: Sandbox): Database {
  const db = new Database(sb.db);
  db.exec("PRAGMA busy_timeout = 10000");
  return db;
}

export function rows(sb: Sandbox, where = "1", ...params: (string | number)[]): Row[] {
  const db = openDb(sb);
  try {
    return db.query(`SELECT * FROM audit_events WHERE ${where} ORDER BY id`).all(...params) as Row[];
  } finally {
    db.close();
  }
}

export function count(sb: Sandbox, where = "1", ...params: (string | number)[]): number {
  const db = openDb(sb);
  try {
    return (db.query(`SELECT count(*) AS n FROM audit_events WHERE ${where}`).get(...params) as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Polls until `fn` returns a truthy value (server writes are committed a moment after the response). */
export async function waitFor<T>(fn: () => T, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

export interface SeedRow {
  at: number;
  host?: string;
  user?: string;
  source?: string;
  type?: string;
  actor?: string | null;
  ip?: string | null;
  countryCode?: string | null;
  countryName?: string | null;
  continent?: string | null;
  details?: string;
}

/** Inserts rows in one transaction with a prepared statement (how tests simulate old or many events). */
export function seed(sb: Sandbox, list: SeedRow[] | Iterable<SeedRow>): void {
  const db = openDb(sb);
  try {
    const ins = db.prepare(
      "INSERT INTO audit_events (at, host, user, source, type, actor, ip, country_code, country_name, continent, details) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
    );
    db.transaction(() => {
      for (const r of list) {
        ins.run(r.at, r.host ?? "example.com", r.user ?? "", r.source ?? "web", r.type ?? "invite.created", r.actor ?? null, r.ip ?? null, r.countryCode ?? null, r.countryName ?? null, r.continent ?? null, r.details ?? "{}");
      }
    })();
  } finally {
    db.close();
  }
}

/** The database schema exists once any CLI command has opened it. */
/** Creates the sandbox's database, applying every migration, with the code every command opens it with. */
export async function migrate(sb: Sandbox): Promise<void> {
  openContext(sb.config).db.close();
}

/** `invited audit ... --json`, parsed. */
export async function auditJson(sb: Sandbox, args: string[]): Promise<Record<string, any>[]> {
  const r = await cli(["audit", ...args, "--json"], { config: sb.config });
  if (r.code !== 0) throw new Error(`invited audit ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l));
}

export const DAY = 86_400_000;

let probeSeq = 0;
/**
 * A refused API request (it writes key.auth_failed with the client IP); returns the row it wrote. Each probe names
 * a different unknown key id, because repeats of the same (client, key id, reason) are coalesced into one row.
 */
export async function failedAuthProbe(server: TestServer, sb: Sandbox, xff: string | null, base = server.url): Promise<Row> {
  const tag = `probe-${process.pid}-${++probeSeq}`;
  const headers: Record<string, string> = { "User-Agent": tag, Authorization: `Bearer Probe${String(probeSeq).padStart(7, "0")}/${"A".repeat(43)}` };
  if (xff !== null) headers["X-Forwarded-For"] = xff;
  expect((await get(`${base}/invites_api`, { headers })).status).toBe(403);
  const [row] = await waitFor(() => {
    const r = rows(sb, "user_agent = ?", tag);
    return r.length ? r : null;
  }, `the event of ${tag}`);
  return row!;
}

/** The location columns of a row, for comparisons. */
export const where = (r: Row) => ({ ip: r.ip, country_code: r.country_code, country_name: r.country_name, continent: r.continent });
