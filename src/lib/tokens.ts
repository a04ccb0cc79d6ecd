import { randomBytes } from "node:crypto";

// Random bytes are drawn from a pool refilled from the system CSPRNG 4 KiB at a time: one getRandomValues call per
// ~200 tokens instead of one per token (each call costs ~1.5 µs). Every byte is handed out once, then overwritten.
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
function takeRandom(n: number): Buffer {
  if (n > pool.length) return randomBytes(n);
  if (poolOffset + n > pool.length) {
    crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const out = Buffer.from(pool.subarray(poolOffset, poolOffset + n)); // a copy, so the pool can be refilled
  pool.fill(0, poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

/** URL-safe random string from the system CSPRNG: `bytes` bytes of entropy, base64url without padding. */
export function randomToken(bytes: number): string {
  return takeRandom(bytes).toString("base64url");
}

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** A public identifier of `length` URL-safe characters (64-symbol alphabet, no modulo bias). */
export function randomId(length = 12): string {
  const bytes = takeRandom(length);
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
  const bytes = takeRandom(5);
  let rand = "";
  for (let i = 0; i < 5; i++) rand += SORTABLE[bytes[i]! % 62]; // slight bias is harmless: uniqueness, not secrecy
  return time + rand;
}

/** SHA-256 hex digest. Tokens carry >=128 random bits, so a fast hash is safe and keeps lookups O(1). */
export function hashToken(token: string): string {
  return Bun.SHA256.hash(token, "hex") as unknown as string;
}

/** Constant-time comparison of two hex digests: no early exit, so timing does not reveal a matching prefix. */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
