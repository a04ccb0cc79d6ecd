import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import { and, eq, or, isNull, lt } from "drizzle-orm";
import * as OTPAuth from "otpauth";
import type { AppContext, Origin } from "../context.ts";
import { recordEvent } from "../audit/service.ts";
import { accounts } from "./schema.ts";
import { findAccount, type Account } from "./service.ts";

/**
 * The second factor (TOTP, RFC 6238: SHA-1, 6 digits, 30 s) of an account. Enrolled only from the shell
 * (`invited user totp`), so a stolen password can never enrol one.
 *
 * At rest: the server must read the secret to check a code, so it cannot be hashed. It is encrypted with AES-256-GCM
 * under a 256-bit key kept in a file of its own beside the database (DATABASE.totp-key, mode 0600, made at the first
 * enrolment): a copy of the database or a backup (VACUUM INTO) alone gives no codes. The secret is shown once, at
 * enrolment, and never printed again.
 */

const PERIOD = 30;
/** One step either side of now is accepted (clock drift), as most authenticators expect. */
const WINDOW = 1;

function keyFile(ctx: AppContext): string {
  return `${ctx.config.database.path}.totp-key`;
}

function readKey(ctx: AppContext, create: boolean): Buffer | null {
  const file = keyFile(ctx);
  if (!existsSync(file)) {
    if (!create) return null;
    const key = randomBytes(32);
    try {
      const fd = openSync(file, "wx", 0o600);
      writeSync(fd, key.toString("base64") + "\n");
      closeSync(fd);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  const key = Buffer.from(readFileSync(file, "utf8").trim(), "base64");
  if (key.length !== 32) throw new Error(`${file} is not a TOTP key file (expected 32 bytes in base64)`);
  return key;
}

function encrypt(key: Buffer, secret: string, aad: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(Buffer.from(aad));
  const body = Buffer.concat([c.update(secret, "utf8"), c.final()]);
  return `v1.${iv.toString("base64url")}.${Buffer.concat([body, c.getAuthTag()]).toString("base64url")}`;
}

function decrypt(key: Buffer, stored: string, aad: string): string | null {
  const [v, ivText, bodyText] = stored.split(".");
  if (v !== "v1" || !ivText || !bodyText) return null;
  try {
    const all = Buffer.from(bodyText, "base64url");
    const d = createDecipheriv("aes-256-gcm", key, Buffer.from(ivText, "base64url"));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(all.subarray(all.length - 16));
    return Buffer.concat([d.update(all.subarray(0, all.length - 16)), d.final()]).toString("utf8");
  } catch {
    return null;
  }
}

/** The row's identity is bound into the ciphertext, so a secret copied onto another account's row does not decrypt. */
const aadOf = (host: string, username: string) => `totp\u0000${host}\u0000${username}`;

export class TotpError extends Error {}

export interface Enrolment {
  /** otpauth://totp/... for an authenticator app: shown once. */
  uri: string;
  secret: string;
}

/** Enrols (or, with `replace`, re-enrols) a TOTP secret for an account. Audited as account.totp_enrolled. */
export async function enrolTotp(ctx: AppContext, origin: Origin, host: string, username: string, replace = false): Promise<Enrolment> {
  const account = findAccount(ctx, host, username);
  if (!account) throw new TotpError(`no account '${username}' on ${host}`);
  const key = readKey(ctx, true)!;
  const secret = new OTPAuth.Secret({ size: 20 });
  const totp = new OTPAuth.TOTP({ issuer: `invited ${host}`, label: `${account.username}@${host}`, algorithm: "SHA1", digits: 6, period: PERIOD, secret });
  await ctx.db.write(() => {
    const row = ctx.db.orm.select({ totpSecret: accounts.totpSecret }).from(accounts).where(eq(accounts.id, account.id)).get();
    if (!row) throw new TotpError(`no account '${username}' on ${host}`);
    if (row.totpSecret !== null && !replace) throw new TotpError(`${account.username}@${host} already has TOTP; pass --replace to enrol a new secret (the old one stops working)`);
    ctx.db.orm.update(accounts).set({ totpSecret: encrypt(key, secret.base32, aadOf(host, account.username)), totpLastStep: null }).where(eq(accounts.id, account.id)).run();
    recordEvent(ctx, origin, { type: "account.totp_enrolled", host, user: account.username, details: { replaced: row.totpSecret !== null } });
  });
  return { uri: totp.toString(), secret: secret.base32 };
}

/** Removes an account's TOTP. Audited. Returns false when it had none. */
export async function removeTotp(ctx: AppContext, origin: Origin, host: string, username: string): Promise<boolean> {
  const account = findAccount(ctx, host, username);
  if (!account) throw new TotpError(`no account '${username}' on ${host}`);
  return ctx.db.write(() => {
    const done = ctx.db.orm.update(accounts).set({ totpSecret: null, totpLastStep: null }).where(and(eq(accounts.id, account.id))).returning({ id: accounts.id }).all();
    if (account.totpSecret === null) return false;
    if (done.length) recordEvent(ctx, origin, { type: "account.totp_removed", host, user: account.username });
    return done.length > 0;
  });
}

export function hasTotp(account: Pick<Account, "totpSecret">): boolean {
  return account.totpSecret !== null;
}

export type TotpVerdict = "ok" | "invalid" | "reused";

/**
 * Checks a code and, in the same write, marks its time step used: the conditional UPDATE (last step < this step) lets
 * exactly one of two concurrent sign-ins with the same code through, and no code of an earlier step after it.
 */
export async function checkTotp(ctx: AppContext, account: Account, code: string, now = Date.now()): Promise<TotpVerdict> {
  if (!account.totpSecret || !/^\d{6}$/.test(code)) return "invalid";
  const key = readKey(ctx, false);
  const base32 = key ? decrypt(key, account.totpSecret, aadOf(account.host, account.username)) : null;
  if (!base32) {
    ctx.log.warn(`TOTP secret of ${account.username}@${account.host} cannot be decrypted (missing or different ${keyFile(ctx)})`);
    return "invalid";
  }
  const totp = new OTPAuth.TOTP({ algorithm: "SHA1", digits: 6, period: PERIOD, secret: OTPAuth.Secret.fromBase32(base32) });
  const delta = totp.validate({ token: code, timestamp: now, window: WINDOW });
  if (delta === null) return "invalid";
  const step = Math.floor(now / 1000 / PERIOD) + delta;
  const took = await ctx.db.write(() =>
    ctx.db.orm
      .update(accounts)
      .set({ totpLastStep: step })
      .where(and(eq(accounts.id, account.id), or(isNull(accounts.totpLastStep), lt(accounts.totpLastStep, step))))
      .returning({ id: accounts.id })
      .all().length,
  );
  return took ? "ok" : "reused";
}
