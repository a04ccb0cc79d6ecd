import { and, eq, lte, or, desc, ne } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import { clientFields, recordEvent } from "../audit/service.ts";
import { digestsEqual, hashToken, randomToken } from "../lib/tokens.ts";
import { sessions } from "./schema.ts";

/**
 * Sessions of signed-in members: made at sign-in, found by the cookie's id, ended by sign-out, by "sign out
 * everywhere", by disabling the account, or by time ([sessions] idle_timeout and lifetime). No HTTP here: the cookie
 * and the CSRF check are the doors' part (sessions/http.ts).
 */

export type Session = typeof sessions.$inferSelect;

/** 24 random bytes: 192 bits, base64url (32 characters). */
const SESSION_ID_BYTES = 24;
const SESSION_ID_RE = /^[A-Za-z0-9_-]{32}$/;
/** last_seen_at is written at most this often per session: the idle timeout is coarse to a minute, reads stay reads. */
const TOUCH_EVERY_MS = 60_000;

export interface StartedSession {
  /** The cookie's value: shown to the browser once, stored only as its hash. */
  secret: string;
  session: Session;
}

/** Inside the caller's write job (with the sign-in's audit event): a new session with a new random id. */
export function startSessionTx(ctx: AppContext, origin: Origin, host: string, username: string, now = Date.now(), secondFactor = false): StartedSession {
  const secret = randomToken(SESSION_ID_BYTES);
  const where = clientFields(ctx, origin.ip);
  const session = ctx.db.orm
    .insert(sessions)
    .values({
      idHash: hashToken(secret),
      host,
      username,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + ctx.config.sessions.lifetime,
      createdIp: where.ip,
      createdCountry: where.countryCode,
      createdCity: where.city,
      lastIp: where.ip,
      lastCountry: where.countryCode,
      lastCity: where.city,
      userAgent: origin.userAgent ? origin.userAgent.slice(0, 256) : null,
      secondFactorAt: secondFactor ? now : null,
    })
    .returning()
    .get();
  return { secret, session };
}

/** Whether a session has ended by time. */
export function sessionExpired(ctx: AppContext, s: Pick<Session, "expiresAt" | "lastSeenAt">, now = Date.now()): boolean {
  return now >= s.expiresAt || now >= s.lastSeenAt + ctx.config.sessions.idleTimeout;
}

/** The live session a cookie value names, or null (malformed, unknown, ended, or timed out). */
export function findSession(ctx: AppContext, secret: string | null | undefined, now = Date.now()): Session | null {
  if (!secret || !SESSION_ID_RE.test(secret)) return null;
  const row = ctx.db.orm.select().from(sessions).where(eq(sessions.idHash, hashToken(secret))).get();
  if (!row || sessionExpired(ctx, row, now)) return null;
  return row;
}

/**
 * Marks the session used now, from where (so the account page can show its last use). Written at most once a minute,
 * or at once when the client's address changed.
 */
export async function touchSession(ctx: AppContext, session: Session, origin: Origin, now = Date.now()): Promise<void> {
  const where = clientFields(ctx, origin.ip);
  if (now - session.lastSeenAt < TOUCH_EVERY_MS && where.ip === session.lastIp) return;
  await ctx.db.write(() =>
    ctx.db.orm
      .update(sessions)
      .set({ lastSeenAt: now, lastIp: where.ip, lastCountry: where.countryCode, lastCity: where.city })
      .where(eq(sessions.id, session.id))
      .run(),
  );
}

/**
 * The anti-forgery token of a session, derived from its secret id: only a page the browser loaded with the cookie
 * can know it, and nothing more has to be stored. Domain-separated so it never equals anything else made from the id.
 */
export function csrfTokenFor(secret: string): string {
  return Buffer.from(hashToken(`csrf\u0000${secret}`), "hex").subarray(0, 18).toString("base64url");
}

export function csrfTokenMatches(secret: string, token: string | null | undefined): boolean {
  if (!token) return false;
  const want = csrfTokenFor(secret);
  return token.length === want.length && digestsEqual(token, want);
}

/** A member's live sessions, most recently used first. */
export function listSessions(ctx: AppContext, host: string, username: string, now = Date.now()): Session[] {
  return ctx.db.orm
    .select()
    .from(sessions)
    .where(and(eq(sessions.host, host), eq(sessions.username, username)))
    .orderBy(desc(sessions.lastSeenAt))
    .all()
    .filter((s) => !sessionExpired(ctx, s, now));
}

/** Ends one session of this member (their own sign-out, or "sign out" beside a session on the account page). */
export async function endSession(ctx: AppContext, origin: Origin, host: string, username: string, sessionId: number): Promise<boolean> {
  return ctx.db.write(() => {
    const gone = ctx.db.orm
      .delete(sessions)
      .where(and(eq(sessions.id, sessionId), eq(sessions.host, host), eq(sessions.username, username)))
      .returning({ id: sessions.id })
      .get();
    if (gone) recordEvent(ctx, origin, { type: "account.logout", host, user: username, details: { session: sessionId } });
    return gone !== undefined;
  });
}

/** Inside a write job: ends every session of a member, or every one but `keep`. Returns how many ended. */
export function endAllSessionsTx(ctx: AppContext, host: string, username: string, keep: number | null = null): number {
  const conditions = [eq(sessions.host, host), eq(sessions.username, username)];
  if (keep !== null) conditions.push(ne(sessions.id, keep));
  return ctx.db.orm.delete(sessions).where(and(...conditions)).returning({ id: sessions.id }).all().length;
}

/** "Sign out everywhere": every session of the member ends (with `keep`, all but the current one). Audited. */
export async function endAllSessions(ctx: AppContext, origin: Origin, host: string, username: string, reason: string, keep: number | null = null): Promise<number> {
  return ctx.db.write(() => {
    const ended = endAllSessionsTx(ctx, host, username, keep);
    recordEvent(ctx, origin, { type: "account.sessions_ended", host, user: username, details: { sessions: ended, reason } });
    return ended;
  });
}

/** Deletes sessions that ended by time. Returns how many. */
export async function pruneExpiredSessions(ctx: AppContext, now = Date.now()): Promise<number> {
  const idleSince = now - ctx.config.sessions.idleTimeout;
  return ctx.db.write(() => ctx.db.orm.delete(sessions).where(or(lte(sessions.expiresAt, now), lte(sessions.lastSeenAt, idleSince))).returning({ id: sessions.id }).all().length);
}

const PRUNE_EVERY_MS = 10 * 60_000;

/** Prunes ended sessions at start-up and every ten minutes while the server runs. */
export function startSessionPruner(ctx: AppContext): { stop(): void } {
  const prune = () => pruneExpiredSessions(ctx).catch((e) => ctx.log.warn(`pruning sessions failed: ${(e as Error).message}`));
  prune();
  const timer = setInterval(prune, PRUNE_EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

