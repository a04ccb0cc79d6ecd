import { and, eq, sql } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import { apiKeys } from "./schema.ts";
import { digestsEqual, hashToken, randomId, randomToken } from "../lib/tokens.ts";
import { recordEvent } from "../audit/service.ts";
import { perDb } from "../db/index.ts";
import { CoalescedEvents } from "../audit/coalesce.ts";
import { onePer } from "../lib/memo.ts";
import { parseRate } from "../limits/rate.ts";
import { metrics } from "../metrics/index.ts";

export const KEY_ID_LENGTH = 12;
const KEY_ID_RE = /^[A-Za-z0-9_-]{12}$/;
const KEY_TOKEN_RE = /^[A-Za-z0-9_-]{32,128}$/;

export const SCOPES = [
  "invite:create",
  "invite:create:reset",
  "invite:create:group",
  "invite:list",
  "invite:revoke",
  "invite:redeem",
  "invite:xmpp",
  "audit:read",
  "account:manage",
] as const;
export type Scope = (typeof SCOPES)[number];

export type ApiKey = typeof apiKeys.$inferSelect;

export interface CreateKeyInput {
  host: string;
  name?: string | null;
  scopes?: Scope[];
  expiresAt?: number | null;
  maxTtl?: number | null;
  maxUses?: number | null;
  rate?: string | null;
}

/** A fresh key id. It never starts with "-" or "_", so `invited key delete HOST ID` cannot mistake it for an option. */
function newKeyId(): string {
  for (;;) {
    const id = randomId(KEY_ID_LENGTH);
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}

/** A key option the service refuses (unknown scope, bad rate, ceiling out of range). */
export class KeyOptionError extends Error {}

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

/** Checks creation options; throws KeyOptionError naming the option. */
export function validateKeyOptions(input: CreateKeyInput): void {
  if (input.scopes !== undefined) {
    if (input.scopes.length === 0) throw new KeyOptionError("a key needs at least one scope");
    for (const s of input.scopes) if (!isScope(s)) throw new KeyOptionError(`unknown scope '${s}' (known: ${SCOPES.join(", ")})`);
  }
  if (input.rate !== undefined && input.rate !== null && parseRate(input.rate) === null)
    throw new KeyOptionError(`rate must look like 60/min (N/sec, N/min, N/hour or N/day), got '${input.rate}'`);
  if (input.maxUses !== undefined && input.maxUses !== null && (!Number.isSafeInteger(input.maxUses) || input.maxUses < 1 || input.maxUses > 1_000_000))
    throw new KeyOptionError("max uses must be a whole number from 1 to 1000000");
  if (input.maxTtl !== undefined && input.maxTtl !== null && (!Number.isSafeInteger(input.maxTtl) || input.maxTtl < 1000))
    throw new KeyOptionError("max ttl must be at least 1s");
  if (input.name !== undefined && input.name !== null && input.name.length > 200) throw new KeyOptionError("name is longer than 200 characters");
  // A tab or newline in a name would break `key list`'s one `ID<TAB>NAME` line per key.
  if (input.name && /[\x00-\x1f\x7f]/.test(input.name)) throw new KeyOptionError("name must not contain tabs, newlines or other control characters");
}

/** Creates a key and returns its one-time secret `ID/TOKEN` (256 random bits). Only the token's hash is stored. */
export async function createApiKey(ctx: AppContext, origin: Origin, input: CreateKeyInput): Promise<{ key: ApiKey; secret: string }> {
  validateKeyOptions(input);
  const token = randomToken(32);
  return ctx.db.write(() => {
    const now = Date.now();
    const row = {
      id: newKeyId(),
      host: input.host,
      name: input.name || null,
      tokenHash: hashToken(token),
      scopes: JSON.stringify(input.scopes ?? ["invite:create"]),
      expiresAt: input.expiresAt ?? null,
      maxTtl: input.maxTtl ?? null,
      maxUses: input.maxUses ?? null,
      rate: input.rate ?? null,
      createdAt: now,
    };
    const key = ctx.db.orm.insert(apiKeys).values(row).returning().get();
    recordEvent(
      ctx,
      origin,
      { type: "key.created", host: input.host, details: { key_id: key.id, name: key.name, scopes: keyScopes(key), expires_at: key.expiresAt, max_ttl: key.maxTtl, max_uses: key.maxUses, rate: key.rate } },
      now,
    );
    return { key, secret: `${key.id}/${token}` };
  });
}

export function listApiKeys(ctx: AppContext, host: string): ApiKey[] {
  return ctx.db.orm.select().from(apiKeys).where(eq(apiKeys.host, host)).orderBy(apiKeys.createdAt, apiKeys.id).all();
}

/** Deletes a key; returns false when the host has no key with that id. */
export async function deleteApiKey(ctx: AppContext, origin: Origin, host: string, id: string): Promise<boolean> {
  return ctx.db.write(() => {
    const gone = ctx.db.orm
      .delete(apiKeys)
      .where(and(eq(apiKeys.host, host), eq(apiKeys.id, id)))
      .returning({ id: apiKeys.id, name: apiKeys.name })
      .get();
    if (!gone) return false;
    recordEvent(ctx, origin, { type: "key.deleted", host, details: { key_id: id, name: gone.name } });
    return true;
  });
}

/**
 * Gives a key a new token and keeps the same id. The previous token keeps working for `graceMs` (0: stops at once);
 * a token from before an earlier rotation stops now. Returns null when the host has no key with that id.
 */
export async function rotateApiKey(ctx: AppContext, origin: Origin, host: string, id: string, graceMs: number): Promise<{ key: ApiKey; secret: string } | null> {
  if (!Number.isSafeInteger(graceMs) || graceMs < 0) throw new KeyOptionError("grace must be a duration like 24h, or 0");
  const token = randomToken(32);
  return ctx.db.write(() => {
    const now = Date.now();
    const key = ctx.db.sqlite
      .query(
        `UPDATE api_keys SET prev_token_hash = CASE WHEN ?1 > 0 THEN token_hash END, prev_expires_at = CASE WHEN ?1 > 0 THEN ?2 + ?1 END,
           token_hash = ?3 WHERE host = ?4 AND id = ?5 RETURNING id`,
      )
      .get(graceMs, now, hashToken(token), host, id) as { id: string } | null;
    if (!key) return null;
    const row = ctx.db.orm.select().from(apiKeys).where(eq(apiKeys.id, id)).get()!;
    recordEvent(ctx, origin, { type: "key.rotated", host, details: { key_id: id, grace_ms: graceMs, previous_valid_until: row.prevExpiresAt } }, now);
    return { key: row, secret: `${id}/${token}` };
  });
}

/**
 * Disables or re-enables a key; a disabled key is refused like a wrong one (403, reason in the audit log only).
 * Returns null when the key does not exist, else whether anything changed (no event when it was already so).
 */
export async function setApiKeyDisabled(ctx: AppContext, origin: Origin, host: string, id: string, disabled: boolean): Promise<boolean | null> {
  return ctx.db.write(() => {
    const changed = ctx.db.sqlite
      .query("UPDATE api_keys SET disabled = ?1 WHERE host = ?2 AND id = ?3 AND disabled <> ?1 RETURNING id")
      .get(disabled ? 1 : 0, host, id);
    if (!changed) return ctx.db.sqlite.query("SELECT 1 FROM api_keys WHERE host = ?1 AND id = ?2").get(host, id) ? false : null;
    recordEvent(ctx, origin, { type: disabled ? "key.disabled" : "key.enabled", host, details: { key_id: id } });
    return true;
  });
}

export type KeyFailure = "missing" | "malformed" | "unknown" | "mismatch" | "expired" | "disabled";
export type KeyCheck = { ok: true; key: ApiKey } | { ok: false; reason: KeyFailure; keyId: string | null; host: string | null };

/** Splits `ID/TOKEN`; null when it does not have that shape (so nothing is looked up for junk). */
export function parseKeySecret(secret: string): { id: string; token: string } | null {
  const slash = secret.indexOf("/");
  if (slash < 0) return null;
  const id = secret.slice(0, slash);
  const token = secret.slice(slash + 1);
  if (!KEY_ID_RE.test(id) || !KEY_TOKEN_RE.test(token)) return null;
  return { id, token };
}

// Plain prepared statement with explicit aliases: it runs on every API request and skips drizzle's row mapping.
const findKey = perDb((db) => {
  const stmt = db.sqlite.prepare<ApiKey, [string]>(
    `SELECT id, host, name, token_hash AS tokenHash, prev_token_hash AS prevTokenHash, prev_expires_at AS prevExpiresAt,
       scopes, expires_at AS expiresAt, max_ttl AS maxTtl, max_uses AS maxUses, rate, disabled, created_at AS createdAt,
       last_used_at AS lastUsedAt, last_used_ip AS lastUsedIp
     FROM api_keys WHERE id = ?`,
  );
  return { get: ({ id }: { id: string }) => stmt.get(id) };
});

/**
 * Checks a presented `ID/TOKEN`. Reads the key on every call (no cache), so a key created or deleted from the CLI
 * takes effect at once. The hash comparison is constant-time; during a rotation's grace period the previous token
 * is accepted too.
 */
export function verifyApiKey(ctx: AppContext, secret: string | null, now = Date.now()): KeyCheck {
  if (!secret) return { ok: false, reason: "missing", keyId: null, host: null };
  const parsed = parseKeySecret(secret);
  if (!parsed) return { ok: false, reason: "malformed", keyId: null, host: null };
  const key = findKey(ctx.db).get({ id: parsed.id });
  if (!key) return { ok: false, reason: "unknown", keyId: parsed.id, host: null };
  const presented = hashToken(parsed.token);
  const current = digestsEqual(presented, key.tokenHash);
  const previous = key.prevTokenHash !== null && key.prevExpiresAt !== null && now < key.prevExpiresAt && digestsEqual(presented, key.prevTokenHash);
  if (!current && !previous) return { ok: false, reason: "mismatch", keyId: key.id, host: key.host };
  if (key.disabled) return { ok: false, reason: "disabled", keyId: key.id, host: key.host };
  if (key.expiresAt !== null && now >= key.expiresAt) return { ok: false, reason: "expired", keyId: key.id, host: key.host };
  return { ok: true, key };
}

/**
 * Refused keys of a running server. A client hammering bad keys would otherwise cost a write per 403 and push real
 * events out of `max_rows`: the first per (client IP, key id, reason) is written at once, repeats within
 * `[limits] auth_failure_log_window` as one `key.auth_failed` row with `repeats: N` (see audit/coalesce.ts).
 */
const authFailureLog = onePer((ctx: AppContext) => new CoalescedEvents(ctx, ctx.config.limits.authFailureWindow));

/** Audit row for a refused key (coalesced). Never the token; the key id only when it parsed. */
export function recordAuthFailure(ctx: AppContext, origin: Origin, check: Extract<KeyCheck, { ok: false }>): void {
  metrics.authFailures.inc({ kind: "api_key" });
  const group = `${origin.ip ?? "-"}|${check.keyId ?? "-"}|${check.reason}`;
  void authFailureLog(ctx).record(group, origin, { type: "key.auth_failed", host: check.host ?? "", details: { reason: check.reason, key_id: check.keyId } });
}

/** Writes the repeat counts of refused keys still pending (server shutdown). */
export function flushAuthFailures(ctx: AppContext): Promise<unknown> {
  return authFailureLog(ctx).flush();
}

export function keyScopes(key: Pick<ApiKey, "scopes">): Scope[] {
  try {
    const v = JSON.parse(key.scopes) as unknown;
    return Array.isArray(v) ? (v.filter((s) => typeof s === "string" && isScope(s)) as Scope[]) : [];
  } catch {
    return [];
  }
}

// Parsed scope lists by their stored JSON text: few distinct values, so requests do not re-parse.
const scopeSets = new Map<string, ReadonlySet<string>>();

/** Whether a key holds a scope. */
export function hasScope(key: Pick<ApiKey, "scopes">, scope: Scope): boolean {
  let set = scopeSets.get(key.scopes);
  if (set === undefined) {
    if (scopeSets.size > 1000) scopeSets.clear();
    set = new Set(keyScopes(key));
    scopeSets.set(key.scopes, set);
  }
  return set.has(scope);
}

/**
 * Records when and from where a key was last used. Uses before the next group commit are folded into one UPDATE per
 * key, queued with the requests' own writes so it shares their commit.
 */
export function markKeyUsed(ctx: AppContext, id: string, ip: string | null): void {
  let pending = pendingUse.get(ctx.db);
  if (!pending) {
    const batch = new Map<string, { at: number; ip: string | null }>();
    pendingUse.set(ctx.db, (pending = batch));
    ctx.db
      .write(() => {
        // Later uses start a new batch; this one is only read, so a replayed job writes the same rows.
        if (pendingUse.get(ctx.db) === batch) pendingUse.delete(ctx.db);
        const stmt = touchKey(ctx.db);
        for (const [keyId, use] of batch) stmt.run({ id: keyId, at: use.at, ip: use.ip });
      })
      .catch(() => {});
  }
  pending.set(id, { at: Date.now(), ip });
}
const pendingUse = new WeakMap<AppContext["db"], Map<string, { at: number; ip: string | null }>>();

const touchKey = perDb((db) =>
  db.orm
    .update(apiKeys)
    .set({ lastUsedAt: sql`${sql.placeholder("at")}`, lastUsedIp: sql`${sql.placeholder("ip")}` })
    .where(eq(apiKeys.id, sql.placeholder("id")))
    .prepare(),
);
