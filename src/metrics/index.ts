// The process-wide metrics. Features import `metrics` and call e.g. `metrics.invitesRedeemed.inc()`; nothing here
// knows about HTTP. Served by src/metrics/routes.ts at GET /metrics.
import { type HistogramCell, Registry } from "./registry.ts";
import { BUILD, VERSION } from "../version.ts";

export const registry = new Registry();

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

export const metrics = {
  buildInfo: registry.gauge("invited_build_info", "Version and build of the running binary (always 1)", ["version", "build"]),
  startTime: registry.gauge("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds"),
  residentMemory: registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes"),

  httpRequests: registry.counter(
    "invited_http_requests_total",
    "HTTP requests answered, by matched route pattern (\"unmatched\" when no route matched), method and status",
    ["route", "method", "status"],
  ),
  httpDuration: registry.histogram(
    "invited_http_request_duration_seconds",
    "Time from receiving a request to having its response, by matched route pattern",
    ["route"],
    LATENCY_BUCKETS,
  ),
  httpInFlight: registry.gauge("invited_http_requests_in_flight", "Requests being handled right now"),

  invitesCreated: registry.counter("invited_invites_created_total", "Invites created (API, CLI or web), by host", ["host"]),
  /** Incremented by the redemption code when an invite use is committed. */
  invitesRedeemed: registry.counter("invited_invites_redeemed_total", "Invite uses committed (accounts registered or passwords reset)", ["host"]),
  /** kind: "api_key" for a refused API key, "password" for a refused login. */
  authFailures: registry.counter("invited_auth_failures_total", "Refused credentials, by kind", ["kind"]),
  /** Incremented when a client (address prefix) is locked out after too many failures. */
  lockouts: registry.counter("invited_lockouts_total", "Lockouts imposed after repeated authentication failures"),
  passwordHashes: registry.counter("invited_password_hashes_total", "Passwords hashed for registrations and resets (argon2id)"),
  registrationsThrottled: registry.counter("invited_registrations_throttled_total", "Registration attempts refused by [limits] registration_rate"),
  registrationsShed: registry.counter("invited_registrations_shed_total", "Registration attempts refused with 503 because the hash queue was full"),
  hashQueue: registry.gauge("invited_hash_queue", "Password hashes running or waiting right now"),
  /** A key that did not verify, from a locked-out network: 429, not audited one by one, not counted as a failure. */
  lockedOutRequests: registry.counter(
    "invited_locked_out_requests_total",
    "Requests with a key that did not verify from a locked-out client network (429; valid keys are still served)",
  ),
  /** X-Forwarded-For sent by a socket peer that is not in [server] trusted_proxies (the header is ignored). */
  untrustedForwarded: registry.counter(
    "invited_untrusted_forwarded_requests_total",
    "Requests carrying X-Forwarded-For from a peer not in [server] trusted_proxies (the header was ignored)",
  ),
  /** X-Forwarded-For from a trusted proxy with an entry that is not a bare IP address (answered 400). */
  invalidForwarded: registry.counter(
    "invited_invalid_forwarded_requests_total",
    "Requests refused with 400 because X-Forwarded-For from a trusted proxy held an entry that is not a bare IP address",
  ),
  auditRows: registry.gauge("invited_audit_rows", "Rows in the audit log (counted at scrape time)"),
  /** result: created, taken (name exists downstream) or failed. */
  provisionCalls: registry.counter("invited_provision_calls_total", "Calls to a host's provider (any operation), by host and result (created, taken, done, failed)", ["host", "result"]),
  /** result: delivered, retry (another attempt is scheduled), failed (gave up) or gone (410: endpoint disabled). */
  webhookAttempts: registry.counter("invited_webhook_attempts_total", "Notification webhook delivery attempts, by result", ["result"]),

  dbCommits: registry.counter("invited_db_commits_total", "Write transactions committed by the group-commit batcher"),
  dbWrites: registry.counter("invited_db_writes_total", "Write jobs committed (several share one transaction under load)"),
  dbBusy: registry.counter(
    "invited_db_busy_total",
    "Write transactions that found the database locked by another process for longer than busy_timeout (SQLITE_BUSY)",
  ),
  dbCheckpoints: registry.counter(
    "invited_db_checkpoints_total",
    "Background WAL checkpoints, by result (done; busy: another checkpoint was running; error)",
    ["result"],
  ),
  dbWalFrames: registry.gauge("invited_db_wal_frames", "Frames in the write-ahead log at the last background checkpoint"),
  dbWalFramesCheckpointed: registry.gauge(
    "invited_db_wal_frames_checkpointed",
    "Frames of the write-ahead log already copied into the database file at the last background checkpoint",
  ),
  dbWriteFailures: registry.counter(
    "invited_db_write_failures_total",
    "Write transactions that failed for a storage reason (busy, readonly, full, ioerr, moved, other); their requests got 503",
    ["reason"],
  ),
};

metrics.buildInfo.set(1, { version: VERSION, build: BUILD });
for (const kind of ["api_key", "password"]) metrics.authFailures.inc({ kind }, 0);
for (const reason of ["busy", "readonly", "full", "ioerr", "moved", "other"]) metrics.dbWriteFailures.inc({ reason }, 0);
for (const result of ["done", "busy", "error"]) metrics.dbCheckpoints.inc({ result }, 0);
metrics.startTime.set(Math.round(Date.now() / 1000 - performance.now() / 1000));
metrics.residentMemory.collectWith((g) => g.set(process.memoryUsage.rss()));

// Per-request bookkeeping is on every request's path: the series cells are cached by (route, method, status) in
// nested maps whose keys are strings the router already interned, so no label key is built per request; the
// in-flight gauge is a plain number read at scrape time.
let inFlight = 0;
metrics.httpInFlight.collectWith((g) => g.set(inFlight));
export function httpRequestStarted(): void {
  inFlight++;
}

type HttpCells = { count: { n: number }; duration: HistogramCell };
const httpCells = new Map<string, Map<string, Map<number, HttpCells>>>();

/** One answered HTTP request. `route` is the matched pattern (bounded), never the raw path. */
export function observeHttpRequest(method: string, route: string | null, status: number, seconds: number): void {
  inFlight--;
  const r = route ?? "unmatched";
  const m = METHODS.has(method) ? method : "other";
  let byMethod = httpCells.get(r);
  if (!byMethod) httpCells.set(r, (byMethod = new Map()));
  let byStatus = byMethod.get(m);
  if (!byStatus) byMethod.set(m, (byStatus = new Map()));
  let cells = byStatus.get(status);
  if (!cells) {
    cells = { count: metrics.httpRequests.cell({ route: r, method: m, status: String(status) }), duration: metrics.httpDuration.cell({ route: r }) };
    byStatus.set(status, cells);
  }
  cells.count.n++;
  metrics.httpDuration.observeCell(cells.duration, seconds);
}

/** Classifies a storage error for `invited_db_write_failures_total`. */
export function storageFailureReason(e: unknown): string {
  const code = String((e as { code?: string } | null)?.code ?? "");
  const msg = String((e as Error | null)?.message ?? "");
  if (/^SQLITE_(BUSY|LOCKED)/.test(code) || /database is locked/i.test(msg)) return "busy";
  if (code === "SQLITE_READONLY_DBMOVED") return "moved";
  if (/^SQLITE_READONLY/.test(code) || /readonly database/i.test(msg)) return "readonly";
  if (/^SQLITE_FULL/.test(code) || /disk is full/i.test(msg)) return "full";
  if (/^SQLITE_IOERR/.test(code) || /disk I\/O error/i.test(msg)) return "ioerr";
  return "other";
}
