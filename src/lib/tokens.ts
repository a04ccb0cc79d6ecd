import { randomBytes, createHash, timingSafeEqual } from "node:crypto";

/** URL-safe random string from the system CSPRNG: `bytes` bytes of entropy, base64url without padding. */
export function randomToken(bytes: number): string {
  return randomBytes(bytes).toString("base64url");
}

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** A public identifier of `length` URL-safe characters (64-symbol alphabet, no modulo bias). */
export function randomId(length = 12): string {
  const bytes = randomBytes(length);
  let out = "";
  for (let i = 0; i < length; i++) out += ID_ALPHABET[bytes[i]! & 63];
  return out;
}

const SORTABLE = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"; // ASCII order

/**
 * A 12-character id whose text order follows creation time: 7 base-62 digits of the millisecond clock, then 5
 * random ones (~30 bits). New rows then land at the end of the primary-key B-tree instead of at random pages, which
 * keeps each commit's write small when millions of rows are stored.
 */
export function sortableId(now = Date.now()): string {
  let time = "";
  let t = Math.max(0, Math.floor(now));
  for (let i = 0; i < 7; i++) {
    time = SORTABLE[t % 62]! + time;
    t = Math.floor(t / 62);
  }
  const bytes = randomBytes(5);
  let rand = "";
  for (let i = 0; i < 5; i++) rand += SORTABLE[bytes[i]! % 62]; // slight bias is harmless: uniqueness, not secrecy
  return time + rand;
}

/** SHA-256 hex digest. Tokens carry >=128 random bits, so a fast hash is safe and keeps lookups O(1). */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Constant-time comparison of two hex digests of equal length. */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));
}

export const URL_SAFE = /^[A-Za-z0-9_-]+$/;
