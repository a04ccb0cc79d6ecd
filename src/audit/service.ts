import type { AppContext, Origin } from "../context.ts";
import { perDb } from "../db/index.ts";
import { parseIp, truncateIp } from "../lib/ip.ts";
import { enqueueNotificationsTx } from "../notify/outbox.ts";

/** Every event type; `invited audit --type` checks against this list. */
export const AUDIT_TYPES = [
  "key.created",
  "key.deleted",
  "key.rotated",
  "key.disabled",
  "key.enabled",
  "key.auth_failed",
  "auth.lockout",
  "proxy.untrusted",
  "invite.created",
  "invite.revoked",
  "invite.used",
  "account.registered",
  "account.password_reset",
  "account.deleted",
  "account.login",
  "account.login_failed",
  "account.logout",
  "account.sessions_ended",
  "account.password_changed",
  "account.disabled",
  "account.enabled",
  "account.role_added",
  "account.role_removed",
  "account.totp_enrolled",
  "account.totp_removed",
  "registration.refused",
  "server.started",
  "server.stopped",
  "provision.failed",
  "webhook.disabled",
  "webhook.failed",
  "webhook.retried",
] as const;
export type AuditType = (typeof AUDIT_TYPES)[number];

/**
 * Events anyone can cause without credentials (coalesced, but still numerous): `max_rows` prunes these before real
 * events. The partial index audit_noise_host_at (schema.ts) repeats this list; keep the two the same.
 */
export const NOISE_TYPES = ["registration.refused", "key.auth_failed", "account.login_failed"] as const;
const NOISE_CONDITION = `type IN (${NOISE_TYPES.map((t) => `'${t}'`).join(", ")})`;

export interface AuditInput {
  type: AuditType;
  host?: string;
  user?: string;
  details?: Record<string, unknown>;
}

/**
 * Writes one audit row. Call it inside the same write transaction as the change it records, so a change never
 * exists without its event. Location comes from the full address; only then is the address cut to its prefix.
 */
export function recordEvent(ctx: AppContext, origin: Origin, event: AuditInput, at = Date.now()): void {
  // Outgoing notifications ride on the same transaction (see notify/outbox.ts), with or without the audit log.
  enqueueNotificationsTx(ctx, event, at);
  if (!ctx.config.audit.enabled) return;
  const where = origin.ip ? clientFields(ctx, origin.ip) : NO_CLIENT;
  insertEvent(ctx.db).run(
    at,
    event.host ?? "",
    event.user ?? "",
    origin.source,
    event.type,
    origin.actor,
    where.ip,
    where.countryCode,
    where.countryName,
    where.continent,
    where.city,
    origin.userAgent ? origin.userAgent.slice(0, 512) : null,
    event.details ? JSON.stringify(event.details) : "{}",
  );
}

/**
 * The client address as this server may store or print it: cut to `[audit] ipv4_prefix`/`ipv6_prefix`, or null when
 * `ips = false`. The request log uses it too, so no full address reaches the journal that the audit log would not keep.
 */
export function storedClientIp(ctx: AppContext, ip: string | null): string | null {
  return ip ? clientFields(ctx, ip).ip : null;
}

export interface ClientFields {
  ip: string | null;
  countryCode: string | null;
  countryName: string | null;
  continent: string | null;
  city: string | null;
}
const NO_CLIENT: ClientFields = { ip: null, countryCode: null, countryName: null, continent: null, city: null };

// What an address turns into (stored form + location) only changes with the config or the GeoIP file, and the same
// few addresses recur request after request: remember it, bounded, and start over when the GeoIP file changes.
const clientCache = new WeakMap<AppContext, { generation: number; entries: Map<string, ClientFields> }>();
export function clientFields(ctx: AppContext, ipText: string | null): ClientFields {
  if (!ipText) return NO_CLIENT;
  let cache = clientCache.get(ctx);
  if (!cache || cache.generation !== ctx.geoip.generation) clientCache.set(ctx, (cache = { generation: ctx.geoip.generation, entries: new Map() }));
  let hit = cache.entries.get(ipText);
  if (hit) return hit;
  const cfg = ctx.config.audit;
  // Location from the full address; only then is the address cut to its prefix (or dropped).
  const location = cfg.location ? ctx.geoip.lookup(ipText) : null;
  const addr = cfg.ips ? parseIp(ipText) : null;
  hit = {
    ip: addr ? truncateIp(addr, cfg.ipv4Prefix, cfg.ipv6Prefix) : null,
    countryCode: location?.countryCode ?? null,
    countryName: location?.countryName ?? null,
    continent: location?.continent ?? null,
    city: location?.city ?? null,
  };
  if (cache.entries.size >= 4096) cache.entries.clear();
  cache.entries.set(ipText, hit);
  return hit;
}

// A plain prepared statement: this insert runs for nearly every request, and drizzle's placeholder mapping
// measured ~1.5 µs more per row. The column list mirrors schema.ts (audit_events).
const insertEvent = perDb((db) =>
  db.sqlite.prepare(
    "INSERT INTO audit_events (at, host, user, source, type, actor, ip, country_code, country_name, continent, city, user_agent, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  ),
);

/** One stored event as the viewer and any API show it. */
export interface AuditEvent {
  id: number;
  at: number;
  host: string;
  user: string;
  source: string;
  type: string;
  actor: string | null;
  ip: string | null;
  countryCode: string | null;
  countryName: string | null;
  continent: string | null;
  city: string | null;
  userAgent: string | null;
  details: Record<string, unknown>;
}

export interface AuditQuery {
  host: string;
  /** One account's events (implies no host-wide events). */
  user?: string | null;
  /** true: only host-wide events (no user); false: hide them; undefined: both. */
  global?: boolean;
  /** Newest first, at most this many (default 20). */
  limit?: number;
  /** Only events at or after this time (epoch ms). */
  since?: number | null;
  /** An exact type, or a family like "key.*". */
  type?: string | null;
  /** Paging: only events older than this event. */
  beforeId?: number | null;
  /**
   * Also show server-wide events (host ""): server start/stop and failed key checks that name no known key.
   * Default true; they are host-wide, so `user` and `global: false` leave them out anyway.
   */
  serverWide?: boolean;
  /** An address or the start of one ("203.0.113." or "2001:db8:"), as stored (cut to the [audit] prefixes). */
  ipPrefix?: string | null;
  /** An ISO country code ("DE"). */
  country?: string | null;
  /** Only events before this time (epoch ms). */
  until?: number | null;
}

export const DEFAULT_QUERY_LIMIT = 20;

type EventRow = Omit<AuditEvent, "details"> & { details: string };

const COLUMNS =
  "id, at, host, user, source, type, actor, ip, country_code AS countryCode, country_name AS countryName, continent, city, user_agent AS userAgent, details";

/**
 * Newest events first. Each shape of filter becomes one prepared statement that walks an index backwards from the
 * newest entry and stops after `limit` rows: (host, user, at) for one account, (host, at) otherwise. Rows of the
 * same millisecond are ordered by id, which both indexes carry as their last column.
 */
export function queryEvents(ctx: AppContext, q: AuditQuery): AuditEvent[] {
  const limit = q.limit ?? DEFAULT_QUERY_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError("limit must be a positive integer");
  let before: { at: number; id: number } | null = null;
  if (q.beforeId !== undefined && q.beforeId !== null) {
    const row = ctx.db.sqlite.query("SELECT at, id FROM audit_events WHERE id = ?1").get(q.beforeId) as { at: number; id: number } | null;
    if (!row) return []; // pruned: everything older went with it
    before = row;
  }
  const hosts = [q.host];
  if ((q.serverWide ?? true) && !q.user && q.global !== false && q.host !== "") hosts.push("");
  const rows: EventRow[] = [];
  for (const host of hosts) rows.push(...selectEvents(ctx, host, q, before, limit));
  if (hosts.length > 1) rows.sort((a, b) => b.at - a.at || b.id - a.id);
  return rows.slice(0, limit).map(toEvent);
}

function selectEvents(ctx: AppContext, host: string, q: AuditQuery, before: { at: number; id: number } | null, limit: number): EventRow[] {
  const where = ["host = $host"];
  const params: Record<string, string | number> = { host, limit }; // strict mode (see db/index.ts): keys carry no `$`
  if (q.user) {
    where.push("user = $user", "user <> ''"); // the second term, as the index states it, lets the partial index serve
    params.user = q.user;
  } else if (q.global === true) {
    where.push("user = ''");
  } else if (q.global === false) {
    where.push("+user <> ''"); // unary +: filter only, so the (host, at) index keeps the order
  }
  if (q.since !== undefined && q.since !== null) {
    where.push("at >= $since");
    params.since = q.since;
  }
  if (q.type) {
    if (q.type.endsWith(".*")) {
      where.push("+type GLOB $type");
      params.type = `${q.type.slice(0, -2).replace(/[*?[\]]/g, "")}.*`;
    } else {
      where.push("+type = $type");
      params.type = q.type;
    }
  }
  if (q.until !== undefined && q.until !== null) {
    where.push("at < $until");
    params.until = q.until;
  }
  if (q.ipPrefix) {
    // Filters only (unary +), so the (host, at) index keeps the order; GLOB is case-sensitive and takes no index.
    where.push("+ip GLOB $ip");
    params.ip = `${q.ipPrefix.replace(/[*?[\]]/g, "")}*`;
  }
  if (q.country) {
    where.push("+country_code = $country");
    params.country = q.country.toUpperCase();
  }
  if (before) {
    where.push("(at, id) < ($beforeAt, $beforeId)");
    params.beforeAt = before.at;
    params.beforeId = before.id;
  }
  const text = `SELECT ${COLUMNS} FROM audit_events WHERE ${where.join(" AND ")} ORDER BY at DESC, id DESC LIMIT $limit`;
  return ctx.db.sqlite.query(text).all(params as never) as EventRow[];
}

function toEvent(row: EventRow): AuditEvent {
  let details: Record<string, unknown>;
  try {
    details = JSON.parse(row.details) as Record<string, unknown>;
  } catch {
    details = {};
  }
  return { ...row, details };
}

export interface PruneOptions {
  /** Only this host's events; default: the whole table. */
  host?: string | null;
  /** Deletes events stored before this time (epoch ms). */
  olderThan: number;
  /** Then, while the table holds more rows than this, deletes the oldest (of `host`, when given). */
  maxRows?: number | null;
  /** Most rows per transaction (default 5,000). */
  batchSize?: number;
  /** Stops between batches (the server aborts on shutdown). */
  signal?: AbortSignal;
}

export interface PruneResult {
  expired: number;
  overQuota: number;
  batches: number;
  ms: number;
}

export const PRUNE_BATCH_SIZE = 5000;
/** A batch (delete + commit) should take about this long: requests queued behind it wait about that much. */
const PRUNE_BATCH_TARGET_MS = 10;
const PRUNE_FIRST_BATCH = 500;

/**
 * Deletes expired events, then the oldest ones past the `maxRows` quota, in batches. Each batch is its own write job
 * (sharing a commit with whatever requests are queued) and the loop yields to the event loop in between, so a server
 * pruning a million rows keeps answering. Batch size adapts so one batch takes about 10 ms, up to `batchSize` rows
 * (see test/bench/audit.ts for the figures).
 */
export async function pruneEvents(ctx: AppContext, opts: PruneOptions): Promise<PruneResult> {
  const started = performance.now();
  const maxBatch = opts.batchSize ?? PRUNE_BATCH_SIZE;
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) throw new RangeError("batchSize must be a positive integer");
  const host = opts.host ?? null;
  const sqlite = ctx.db.sqlite;
  // Expired events go host by host along the (host, at) index; there is no index on `at` alone (see schema.ts).
  const deleteExpired = sqlite.prepare("DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE host = ?3 AND at < ?1 ORDER BY at LIMIT ?2)");
  // Over the quota, the oldest go first: each host's oldest along (host, at), merged, and the oldest of those deleted.
  // Refusals and failed key checks go first (along their partial index), real events only once none are left.
  const oldestOfHost = sqlite.prepare<{ id: number; at: number }, [string, number]>("SELECT id, at FROM audit_events WHERE host = ?1 ORDER BY at, id LIMIT ?2");
  const oldestNoiseOfHost = sqlite.prepare<{ id: number; at: number }, [string, number]>(
    `SELECT id, at FROM audit_events WHERE host = ?1 AND ${NOISE_CONDITION} ORDER BY at, id LIMIT ?2`,
  );
  const deleteIds = sqlite.prepare("DELETE FROM audit_events WHERE id IN (SELECT value FROM json_each(?1))");
  let noiseLeft = true;
  const deleteOldest = (hosts: string[], take: number): number => {
    let oldest = noiseLeft ? hosts.flatMap((h) => oldestNoiseOfHost.all(h, take)) : [];
    if (oldest.length === 0) {
      noiseLeft = false;
      oldest = hosts.flatMap((h) => oldestOfHost.all(h, take));
    }
    if (hosts.length > 1) oldest.sort((a, b) => a.at - b.at || a.id - b.id);
    return deleteIds.run(JSON.stringify(oldest.slice(0, take).map((r) => r.id))).changes;
  };
  const hosts = host === null ? storedHosts(ctx) : [host];
  const result: PruneResult = { expired: 0, overQuota: 0, batches: 0, ms: 0 };
  let size = Math.min(maxBatch, PRUNE_FIRST_BATCH);
  /**
   * Runs one DELETE of up to `take` rows in its own write job and resizes the next batch from how long the whole job
   * took, commit and WAL checkpoint included: that is how long requests queued behind it waited. Deleting a row
   * touches a scattered page of the (host, user, at) index, so the commit, not the DELETE, is most of the cost.
   */
  const batch = async (take: number, run: (take: number) => number): Promise<number> => {
    const t = performance.now();
    const n = await ctx.db.write(() => run(take));
    const took = performance.now() - t;
    result.batches++;
    if (n === take && took > 0) {
      const next = Math.round((take * PRUNE_BATCH_TARGET_MS) / took);
      size = Math.max(50, Math.min(maxBatch, take * 2, Math.max(Math.floor(take / 2), next))); // at most 2x per step
    }
    return n;
  };
  try {
    for (const h of hosts) {
      while (!opts.signal?.aborted) {
        const take = size;
        const n = await batch(take, (k) => deleteExpired.run(opts.olderThan, k, h).changes);
        result.expired += n;
        if (n < take) break;
        await yieldToEventLoop();
      }
    }
    if (opts.maxRows !== undefined && opts.maxRows !== null && !opts.signal?.aborted) {
      const count = (sqlite.query("SELECT count(*) AS n FROM audit_events").get() as { n: number }).n;
      let excess = count - opts.maxRows;
      while (excess > 0 && !opts.signal?.aborted) {
        await yieldToEventLoop();
        const n = await batch(Math.min(size, excess), (k) => deleteOldest(hosts, k));
        if (n === 0) break;
        result.overQuota += n;
        excess -= n;
      }
    }
  } finally {
    deleteExpired.finalize();
    oldestOfHost.finalize();
    oldestNoiseOfHost.finalize();
    deleteIds.finalize();
  }
  result.ms = performance.now() - started;
  return result;
}

/** The distinct hosts in the log, by skipping along the (host, at) index: one seek per host, not a scan of every row. */
function storedHosts(ctx: AppContext): string[] {
  const rows = ctx.db.sqlite
    .query(
      `WITH RECURSIVE hosts(host) AS (
         SELECT min(host) FROM audit_events
         UNION ALL SELECT (SELECT min(host) FROM audit_events WHERE host > hosts.host) FROM hosts WHERE hosts.host IS NOT NULL
       ) SELECT host FROM hosts WHERE host IS NOT NULL`,
    )
    .all() as { host: string }[];
  return rows.map((r) => r.host);
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Events per country (and how many have no known country) in the last `windowMs`, optionally of one type or family.
 * With a million events a window holds hundreds of thousands of rows, so an answer is kept for 30 s per
 * (host, window, type): the map is a picture of the last days, and a minute-old picture is as good.
 */
export function countEventsByCountry(ctx: AppContext, host: string, windowMs: number, type: string | null = null, now = Date.now()): { code: string | null; n: number }[] {
  const cache = countryCounts(ctx.db);
  const key = `${host}\u0000${windowMs}\u0000${type ?? ""}`;
  const hit = cache.get(key);
  if (hit && hit.at > now - COUNTRY_CACHE_MS) return hit.rows;
  const rows = countByCountryNow(ctx, host, now - windowMs, type);
  if (cache.size > 256) cache.clear();
  cache.set(key, { at: now, rows });
  return rows;
}

const COUNTRY_CACHE_MS = 30_000;
const countryCounts = perDb(() => new Map<string, { at: number; rows: { code: string | null; n: number }[] }>());

function countByCountryNow(ctx: AppContext, host: string, since: number, type: string | null): { code: string | null; n: number }[] {
  const params: Record<string, string | number> = { host, since };
  let typeCond = "";
  if (type) {
    typeCond = type.endsWith(".*") ? " AND +type GLOB $type" : " AND +type = $type";
    params.type = type.endsWith(".*") ? `${type.slice(0, -2).replace(/[*?[\]]/g, "")}.*` : type;
  }
  return ctx.db.sqlite
    .query(`SELECT country_code AS code, count(*) AS n FROM audit_events WHERE host IN ($host, '') AND at >= $since${typeCond} GROUP BY country_code ORDER BY n DESC`)
    .all(params as never) as { code: string | null; n: number }[];
}

/** How many events of each of `types` since a time (a host's and server-wide ones), coalesced repeats included. */
export function countEventsByType(ctx: AppContext, host: string, since: number, types: readonly string[]): Map<string, number> {
  const out = new Map<string, number>(types.map((t) => [t, 0]));
  if (types.length === 0) return out;
  const rows = ctx.db.sqlite
    .query(`SELECT type, sum(1 + coalesce(json_extract(details, '$.repeats'), 0)) AS n FROM audit_events WHERE host IN (?1, '') AND at >= ?2 AND +type IN (${types.map((_, i) => `?${i + 3}`).join(", ")}) GROUP BY type`)
    .all(host, since, ...types) as { type: string; n: number }[];
  for (const r of rows) out.set(r.type, r.n);
  return out;
}

/** The newest event of a type since a time (e.g. the last provision.failed this week), or null. */
export function lastEventOf(ctx: AppContext, host: string, type: string, since: number): AuditEvent | null {
  return queryEvents(ctx, { host, type, since, limit: 1 })[0] ?? null;
}
