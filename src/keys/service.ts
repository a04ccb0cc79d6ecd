import { and, eq, sql } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import { apiKeys } from "./schema.ts";
import { digestsEqual, hashToken, randomId, randomToken } from "../lib/tokens.ts";
import { recordEvent } from "../audit/service.ts";
import { perDb } from "../db/index.ts";
import { authFailureLog } from "./failures.ts";

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
  "audit:read",
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

/** Creates a key and returns its one-time secret `ID/TOKEN` (256 random bits). Only the token's hash is stored. */
export async function createApiKey(ctx: AppContext, origin: Origin, input: CreateKeyInput): Promise<{ key: ApiKey; secret: string }> {
  const token = randomToken(32);
  return ctx.db.write(() => {
    const now = Date.now();
    const row = {
      id: randomId(KEY_ID_LENGTH),
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
    recordEvent(ctx, origin, { type: "key.created", host: input.host, details: { key_id: key.id, name: key.name } }, now);
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

/** Audit row for a refused key (coalesced, see failures.ts). Never the token; the key id only when it parsed. */
export function recordAuthFailure(ctx: AppContext, origin: Origin, check: Extract<KeyCheck, { ok: false }>): void {
  authFailureLog(ctx).record(origin, check);
}

export function keyScopes(key: ApiKey): Scope[] {
  try {
    return JSON.parse(key.scopes) as Scope[];
  } catch {
    return [];
  }
}

/**
 * Records when and from where a key was last used. Uses within one event-loop turn are folded into one UPDATE per
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
