// Load helpers shared by the shutdown and fault tests (loopback only, bounded by the caller).
import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { get } from "./helpers.ts";

export const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * Mints invites from `concurrency` loops until stopped, the server goes away, or `maxMs` passed (a safety bound);
 * collects every status and the token of every 201.
 */
export function mintLoad(url: string, key: string, concurrency: number, maxMs = 30_000) {
  const deadline = performance.now() + maxMs;
  const statuses: number[] = [];
  const tokens: string[] = [];
  let failures = 0;
  let stopped = false;
  const loops = Array.from({ length: concurrency }, async (_, i) => {
    while (!stopped && performance.now() < deadline) {
      try {
        const r = await get(`${url}/invites_api`, { method: i % 2 ? "POST" : "GET", headers: { Authorization: `Bearer ${key}` } });
        statuses.push(r.status);
        if (r.status === 201) tokens.push(new URL(r.headers.get("location")!).search.slice(1));
        await r.arrayBuffer();
      } catch {
        failures++; // refused or reset: the server is stopping or gone
        if (failures > concurrency * 3) return;
        await Bun.sleep(5);
      }
    }
  });
  return {
    statuses,
    tokens,
    get failures() {
      return failures;
    },
    stop() {
      stopped = true;
      return Promise.all(loops);
    },
    done: () => Promise.all(loops),
  };
}

/** Tokens that have no invite row. A token starts with its invite's 12-character id; the row stores sha256(token). */
export function missingInvites(dbPath: string, tokens: string[]): string[] {
  const db = new Database(dbPath, { readonly: true });
  try {
    const q = db.query<{ token_hash: string }, [string]>("SELECT token_hash FROM invites WHERE id = ?");
    return tokens.filter((t) => q.get(t.slice(0, 12))?.token_hash !== sha256(t));
  } finally {
    db.close();
  }
}
