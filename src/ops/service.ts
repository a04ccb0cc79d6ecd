// Operations: online backup and the pre-flight `check`. Both open the database read-only and never migrate it, so a
// backup taken with a new binary before an upgrade is a copy of exactly what the old one left.
import { Database as Sqlite } from "bun:sqlite";
import { accessSync, chmodSync, closeSync, constants as fsConstants, existsSync, fsyncSync, linkSync, openSync, renameSync, statSync, unlinkSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Config, HostConfig } from "../config/index.ts";
import { GeoIp } from "../audit/geoip.ts";
import { migrations, pendingMigrations } from "../db/migrations.ts";
import { fileModeProblems } from "../db/index.ts";
import { formatDuration } from "../lib/duration.ts";
import { randomId } from "../lib/tokens.ts";
import { REPORT_FRESH_MS } from "../prosody/service.ts";
import { checkUsername, showUsername, usernameProblemMessage, usernameSkeleton } from "../accounts/username.ts";

export class OpsError extends Error {}

/** Row counts that tell an admin at a glance what a database holds. */
const COUNTED_TABLES = ["api_keys", "invites", "redemptions", "audit_events"] as const;

export interface BackupResult {
  file: string;
  bytes: number;
  integrity: string;
  counts: Record<string, number>;
  ms: number;
}

function openReadonly(path: string, busyTimeout: number): Sqlite {
  if (path === ":memory:") throw new OpsError("the database is in memory (database.path = \":memory:\"); nothing to read");
  if (!existsSync(path)) throw new OpsError(`database file ${path} does not exist`);
  let sqlite: Sqlite;
  try {
    sqlite = new Sqlite(path, { readonly: true });
  } catch (e) {
    throw new OpsError(`cannot open database ${path}: ${(e as Error).message}`);
  }
  sqlite.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.round(busyTimeout))}`);
  return sqlite;
}

function integrity(sqlite: Sqlite, quick = false): string {
  const rows = sqlite.query(quick ? "PRAGMA quick_check" : "PRAGMA integrity_check").values() as [string][];
  return rows.map((r) => String(r[0])).join("; ");
}

function tableCounts(sqlite: Sqlite): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const table of COUNTED_TABLES) {
    const exists = sqlite.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
    if (exists) counts[table] = (sqlite.query(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n;
  }
  return counts;
}

function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a consistent copy of the live database to `target` with VACUUM INTO (one read transaction, so writers keep
 * going), checks the copy with integrity_check, and only then moves it into place. Refuses to replace an existing
 * file unless `force`. The copy is mode 0600: it holds key hashes and client addresses.
 */
export function backupDatabase(dbPath: string, target: string, opts: { force?: boolean; busyTimeout?: number } = {}): BackupResult {
  const started = performance.now();
  const file = resolve(target);
  const source = resolve(dbPath);
  if (file === source || file === `${source}-wal` || file === `${source}-shm`) throw new OpsError(`${target} is the live database itself`);
  if (existsSync(file)) {
    if (!opts.force) throw new OpsError(`${target} already exists (use --force to replace it)`);
    if (!statSync(file).isFile()) throw new OpsError(`${target} exists and is not a regular file`);
  }
  const dir = dirname(file);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new OpsError(`directory ${dir} does not exist`);

  const sqlite = openReadonly(dbPath, opts.busyTimeout ?? 5000);
  const tmp = join(dir, `.${basename(file)}.${randomId(8)}.tmp`);
  try {
    try {
      sqlite.query("VACUUM INTO ?").run(tmp);
    } catch (e) {
      throw new OpsError(`backup failed: ${(e as Error).message}`);
    } finally {
      sqlite.close();
    }
    chmodSync(tmp, 0o600);
    fsyncPath(tmp);

    const copy = new Sqlite(tmp, { readonly: true });
    let check: string;
    let counts: Record<string, number>;
    try {
      check = integrity(copy);
      counts = tableCounts(copy);
    } finally {
      copy.close();
    }
    if (check !== "ok") throw new OpsError(`the copy failed integrity_check: ${check.slice(0, 500)}`);

    if (opts.force) renameSync(tmp, file);
    else {
      try {
        linkSync(tmp, file); // atomic, and fails if the file appeared meanwhile
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new OpsError(`${target} already exists (use --force to replace it)`);
        throw e;
      }
      unlinkSync(tmp);
    }
    try {
      fsyncPath(dir);
    } catch {}
    return { file, bytes: statSync(file).size, integrity: check, counts, ms: Math.round(performance.now() - started) };
  } finally {
    if (existsSync(tmp)) unlinkSync(tmp);
  }
}

export type CheckStatus = "ok" | "warn" | "fail";
export interface CheckItem {
  name: string;
  status: CheckStatus;
  detail: string;
}
export interface CheckReport {
  ok: boolean;
  items: CheckItem[];
  settings: [string, unknown][];
}

/**
 * The pre-flight check behind `invited check`: config (already validated by loading it), database file, integrity,
 * migrations, GeoIP database. Opens the database read-only: checking never changes it.
 */
export function runChecks(config: Config, opts: { quick?: boolean } = {}): CheckReport {
  const items: CheckItem[] = [];
  const add = (name: string, status: CheckStatus, detail: string) => items.push({ name, status, detail });

  add("config", "ok", config.file ? `${config.file} is valid` : "no config file: built-in defaults (and INVITED_* variables)");
  checkDatabase(config, opts.quick ?? false, add);
  checkGeoip(config, add);
  checkUntrustedProxies(config, add);
  checkProsodyReports(config, add);

  return { ok: items.every((i) => i.status !== "fail"), items, settings: effectiveSettings(config) };
}

function checkDatabase(config: Config, quick: boolean, add: (name: string, status: CheckStatus, detail: string) => void): void {
  const path = config.database.path;
  if (path === ":memory:") {
    add("database", "warn", "in memory (database.path = \":memory:\"): nothing is kept across restarts");
    return;
  }
  if (!existsSync(path)) {
    const dir = dirname(resolve(path));
    let dirState = "its directory does not exist yet and will be created";
    if (existsSync(dir)) {
      try {
        accessSync(dir, fsConstants.W_OK);
        dirState = `its directory ${dir} is writable`;
      } catch {
        add("database", "fail", `${path} does not exist and its directory ${dir} is not writable by this user`);
        return;
      }
    }
    add("database", "warn", `${path} does not exist yet; it is created on first start (${dirState})`);
    add("migrations", "ok", `${migrations.length} will be applied on first start`);
    return;
  }
  let sqlite: Sqlite;
  try {
    sqlite = openReadonly(path, config.database.busyTimeout);
  } catch (e) {
    add("database", "fail", (e as Error).message);
    return;
  }
  try {
    const size = statSync(path).size;
    let writable = "";
    try {
      accessSync(path, fsConstants.W_OK);
    } catch {
      writable = "; NOT writable by this user";
    }
    let result: string;
    try {
      result = integrity(sqlite, quick);
    } catch (e) {
      add("database", "fail", `${path}: ${(e as Error).message}`);
      return;
    }
    const which = quick ? "quick_check" : "integrity_check";
    if (result !== "ok") {
      add("database", "fail", `${path}: ${which} failed: ${result.slice(0, 500)}`);
      return;
    }
    const counts = Object.entries(tableCounts(sqlite))
      .map(([t, n]) => `${t} ${n}`)
      .join(", ");
    add("database", writable ? "warn" : "ok", `${path} (${formatBytes(size)}${writable}), ${which} ok; ${counts || "no tables yet"}`);
    const modes = fileModeProblems(path);
    add("permissions", modes.length ? "warn" : "ok", modes.length ? modes.join("; ") : `${path} (and its -wal, -shm) open to the owner only`);

    const pending = pendingMigrations(sqlite);
    const newest = migrations.at(-1)?.folderMillis ?? 0;
    const hasTable = sqlite.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'").get();
    const applied = hasTable ? (sqlite.query("SELECT count(*) AS n, max(created_at) AS last FROM __drizzle_migrations").get() as { n: number; last: number | null }) : { n: 0, last: null };
    if (applied.last !== null && Number(applied.last) > newest) {
      add("migrations", "fail", `the database has migrations newer than this binary knows (it was used by a newer invited); use that version or restore a backup`);
    } else if (pending.length > 0) {
      add("migrations", "warn", `${pending.length} pending (${pending.map((m) => m.tag).join(", ")}); they are applied at the next start — take a backup first`);
    } else {
      add("migrations", "ok", `${applied.n} applied, none pending`);
    }
    checkUsernames(config, sqlite, add);
    checkAccountsReachServer(config, sqlite, add);
  } finally {
    sqlite.close();
  }
}

/**
 * A real host whose accounts reach no real server: no provider, and no key a downstream could redeem invites with
 * (invite:redeem, or invite:xmpp for Prosody's module). People would register and then find they cannot sign in
 * anywhere. localhost is left alone: that is a first try on a checkout.
 */
function checkAccountsReachServer(config: Config, sqlite: Sqlite, add: (name: string, status: CheckStatus, detail: string) => void): void {
  if (!sqlite.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'api_keys'").get()) return;
  const redeeming = new Set(
    (sqlite.query("SELECT DISTINCT host FROM api_keys, json_each(api_keys.scopes) WHERE json_each.value IN ('invite:redeem', 'invite:xmpp')").all() as { host: string }[]).map((r) => r.host),
  );
  const stranded = Object.values(config.hosts).filter((h) => h.name !== "localhost" && h.provision.type === "none" && !redeeming.has(h.name));
  if (stranded.length === 0) {
    add("downstream", "ok", "every host creates its accounts on a real server (a provider, or a key that redeems invites)");
    return;
  }
  add(
    "downstream",
    "warn",
    `${stranded.map((h) => h.name).join(", ")}: no provider and no key with invite:redeem or invite:xmpp, so accounts registered there exist in invited alone; ` +
      "set [hosts.NAME.provision] (docs/provisioning.md) or load Prosody's mod_invited (docs/prosody.md)",
  );
}

/** One line per host: when its Prosody (mod_invited) last reported, and whether apps are offered in-band registration. */
function checkProsodyReports(config: Config, add: (name: string, status: CheckStatus, detail: string) => void, now = Date.now()): void {
  let sqlite: Sqlite | null = null;
  try {
    sqlite = openReadonly(config.database.path, config.database.busyTimeout);
  } catch {} // the database check above has said why
  try {
    const hasTable = sqlite?.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'prosody_reports'").get();
    for (const host of Object.values(config.hosts)) reportLine(host, hasTable ? sqlite : null, add, now);
  } catch {
    // A corrupt file: the database check has already failed.
  } finally {
    sqlite?.close();
  }
}

function reportLine(host: HostConfig, sqlite: Sqlite | null, add: (name: string, status: CheckStatus, detail: string) => void, now: number): void {
  const row = sqlite
    ? (sqlite.query("SELECT reported_at, prosody_version, module_version FROM prosody_reports WHERE host = ?").get(host.name) as
        | { reported_at: number; prosody_version: string | null; module_version: string | null }
        | null)
    : null;
  const name = `prosody ${host.name}`;
  const heard = row
    ? `mod_invited last reported ${ago(now - row.reported_at)} ago (Prosody ${row.prosody_version ?? "?"}, mod_invited ${row.module_version ?? "?"})`
    : "mod_invited has never reported";
  const fresh = row !== null && now - row.reported_at < REPORT_FRESH_MS;
  if (host.appRegistration === false) add(name, "ok", `${heard}; app_registration = false: the app button and xmpp: links are not offered`);
  else if (host.appRegistration === true) add(name, fresh ? "ok" : "warn", `${heard}; app_registration = true: the app button and xmpp: links are offered${fresh ? "" : ", but in-band registration with invited's tokens fails unless Prosody runs mod_invited"}`);
  else if (fresh) add(name, "ok", `${heard}; the app button and xmpp: links are offered (app_registration = auto)`);
  else add(name, row ? "warn" : "ok", `${heard}${row ? " (more than a day)" : ""}; the app button and xmpp: links are not offered until it does (app_registration = auto)`);
}

/** "42s", "5m", "3h", "2d": a rough age, rounded down. */
function ago(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

const UNTRUSTED_PROXY_DAYS = 7;

/**
 * Recent `proxy.untrusted` events: peers that sent X-Forwarded-For without being in trusted_proxies (one event per
 * peer per hour). Usually a reverse proxy missing from the list, so every client looks like the proxy; a warning.
 */
function checkUntrustedProxies(config: Config, add: (name: string, status: CheckStatus, detail: string) => void): void {
  let sqlite: Sqlite;
  try {
    sqlite = openReadonly(config.database.path, config.database.busyTimeout);
  } catch {
    return; // no database (yet): the database check has said so
  }
  let peers: { ip: string | null; last: number }[];
  try {
    if (!sqlite.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'").get()) return;
    const since = Date.now() - UNTRUSTED_PROXY_DAYS * 86_400_000;
    // Server-wide events (host ''): the (host, at) index serves the range, the type is a filter on it.
    peers = sqlite
      .query("SELECT ip, max(at) AS last FROM audit_events WHERE host = '' AND at >= ?1 AND +type = 'proxy.untrusted' GROUP BY ip ORDER BY last DESC")
      .all(since) as { ip: string | null; last: number }[];
  } catch (e) {
    add("proxies", "warn", `cannot read the audit log: ${(e as Error).message}`);
    return;
  } finally {
    sqlite.close();
  }
  if (peers.length === 0) {
    const note = config.audit.enabled ? "" : " (the audit log is off, so none would be recorded)";
    add("proxies", "ok", `no X-Forwarded-For from peers outside trusted_proxies in the last ${UNTRUSTED_PROXY_DAYS} days${note}`);
    return;
  }
  const shown = peers
    .slice(0, 10)
    .map((p) => `${p.ip ?? "(address not stored)"} (last ${new Date(p.last).toISOString().slice(0, 16).replace("T", " ")} UTC)`)
    .join(", ");
  const more = peers.length > 10 ? ` and ${peers.length - 10} more` : "";
  add(
    "proxies",
    "warn",
    `X-Forwarded-For was ignored from peers not in [server] trusted_proxies in the last ${UNTRUSTED_PROXY_DAYS} days: ${shown}${more}. ` +
      "If one is your reverse proxy, add it to trusted_proxies (until then every client behind it shares its address and its lockouts); otherwise a client sent the header itself (harmless: it was ignored)",
  );
}

/** How many offending accounts `check` names before it only counts the rest. */
const USERNAMES_SHOWN = 50;

/**
 * Accounts made before the username rules (or under other host settings) that break them today, and accounts whose
 * names look alike (same confusable skeleton). They keep working; the admin may want to look at them.
 */
function checkUsernames(config: Config, sqlite: Sqlite, add: (name: string, status: CheckStatus, detail: string) => void): void {
  if (!sqlite.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'accounts'").get()) return;
  const found: string[] = [];
  const bySkeleton = new Map<string, string[]>();
  let total = 0;
  for (const { host, username } of sqlite.query("SELECT host, username FROM accounts ORDER BY host, username").iterate() as Iterable<{ host: string; username: string }>) {
    total++;
    const hostConfig = config.hosts[host];
    if (!hostConfig) continue;
    const problem = checkUsername(username, hostConfig);
    if (problem) found.push(`${host} ${showUsername(username)} (${usernameProblemMessage(problem, hostConfig)})`);
    const key = `${host}\n${usernameSkeleton(username)}`;
    const same = bySkeleton.get(key);
    if (same) same.push(username);
    else bySkeleton.set(key, [username]);
  }
  for (const [key, names] of bySkeleton) {
    if (names.length > 1) found.push(`${key.slice(0, key.indexOf("\n"))} ${names.map(showUsername).join(", ")} (look alike)`);
  }
  if (found.length === 0) {
    add("usernames", "ok", `${total} account name(s) follow the username rules`);
    return;
  }
  const shown = found.slice(0, USERNAMES_SHOWN).join("; ");
  const more = found.length > USERNAMES_SHOWN ? `; and ${found.length - USERNAMES_SHOWN} more` : "";
  add("usernames", "warn", `${found.length} account name(s) break today's username rules; they keep working: ${shown}${more}`);
}

function checkGeoip(config: Config, add: (name: string, status: CheckStatus, detail: string) => void): void {
  if (!config.audit.location) {
    add("geoip", "ok", "disabled (audit.location = false)");
    return;
  }
  const warnings: string[] = [];
  const sink = { info() {}, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) };
  const geoip = new GeoIp(config.audit.geoipDatabase, true, sink).open();
  if (!geoip.available) {
    add("geoip", "fail", warnings[0] ?? `${geoip.source} cannot be opened`);
    return;
  }
  const sample = geoip.lookup("193.0.6.139"); // RIPE NCC: present in every country database
  add("geoip", "ok", `${geoip.source}${sample ? `; lookup works (193.0.6.139 -> ${sample.countryCode})` : "; opens, but a test lookup found nothing"}`);
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

const SECRET_KEY = /secret|password|passwd|token|credential|api_?key/i;
// Durations are held in milliseconds; show them the way the config file writes them.
const DURATION_KEY = /(^|_)(timeout|ttl|interval|after|window|lockout|delay)$/;

/**
 * The effective configuration in the config file's own names, each value as the file would write it (durations as
 * "7d"; null when not set), with every value under a secret-sounding key (secret, password, token, ...) masked, and
 * passwords in URLs removed. `check` prints them as `key = value` lines or as one JSON object.
 */
export function effectiveSettings(config: Config): [string, unknown][] {
  const out: [string, unknown][] = [];
  out.push(["config_file", config.file]);
  const walk = (value: unknown, path: string[], key: string) => {
    const name = path.join(".");
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) {
        if (path.length === 0 && k === "file") continue;
        if (path.length === 1 && path[0] === "server" && (k === "hostname" || k === "port")) continue;
        if (path.length === 1 && path[0] === "hosts") walk(v, [...path, JSON.stringify(k)], k);
        else if (path.length === 2 && path[0] === "hosts" && k === "name") continue;
        else walk(v, [...path, snake(k)], snake(k));
      }
      return;
    }
    // Arrays of tables ([[notify]]) are walked element by element, so their secrets are masked too.
    if (Array.isArray(value) && value.some((v) => v !== null && typeof v === "object")) {
      value.forEach((v, i) => walk(v, [...path.slice(0, -1), `${path.at(-1)}[${i}]`], key));
      return;
    }
    const secretValue = typeof value === "string" || (Array.isArray(value) && value.every((v) => typeof v === "string"));
    if (SECRET_KEY.test(key) && secretValue) {
      out.push([name, Array.isArray(value) ? value.map(() => "********") : "********"]);
      return;
    }
    out.push([name, settingValue(value, key, name)]);
  };
  walk({ server: { listen: listenText(config) } }, [], "");
  walk(config, [], "");
  return out;
}

function listenText(config: Config): string {
  const h = config.server.hostname;
  return `${h.includes(":") ? `[${h}]` : h}:${config.server.port}`;
}

function settingValue(value: unknown, key: string, name: string): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" && name === "server.idle_timeout") return `${value}s`; // held in seconds
  if (typeof value === "number" && DURATION_KEY.test(key)) return formatDuration(value);
  if (typeof value === "string") return maskUrl(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === "string" ? maskUrl(v) : v));
  return value;
}

/** https://user:pass@host/ → https://user:********@host/ */
function maskUrl(v: string): string {
  return v.replace(/^([a-z][a-z0-9+.-]*:\/\/[^\/:@\s]*):[^\/@\s]*@/i, "$1:********@");
}

// Config fields whose internal name is not the setting's own.
const SETTING_NAMES: Record<string, string> = { authFailureWindow: "auth_failure_log_window", secrets: "secret" };

function snake(k: string): string {
  return SETTING_NAMES[k] ?? k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
