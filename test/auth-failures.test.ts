import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createKey, get, sandbox, startServer } from "./helpers.ts";

function failures(db: string) {
  const d = new Database(db, { readonly: true });
  try {
    return (d.query("SELECT ip, details FROM audit_events WHERE type = 'key.auth_failed' ORDER BY id").all() as { ip: string; details: string }[]).map((r) => ({
      ip: r.ip,
      ...(JSON.parse(r.details) as { reason: string; key_id: string | null; repeats?: number }),
    }));
  } finally {
    d.close();
  }
}

describe("refused keys in the audit log", () => {
  test("the first failure is written at once; repeats from the same client are counted into one later row", async () => {
    const sb = sandbox(`[limits]\nauth_failures = 0\nauth_failure_log_window = "1s"\n`);
    const server = await startServer(sb);
    try {
      const key = await createKey(sb);
      const wrong = `${key.split("/")[0]}/${"B".repeat(43)}`;
      const hammer = (n: number, secret: string, ip: string) =>
        Promise.all(Array.from({ length: n }, () => get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${secret}`, "X-Forwarded-For": ip } })));
      const first = await hammer(50, wrong, "198.51.100.7");
      expect(first.every((r) => r.status === 403)).toBe(true);
      await hammer(5, "garbage", "198.51.100.8");
      await Bun.sleep(200);
      const now = failures(sb.db);
      // One row per (client, key, reason) so far, however many requests.
      expect(now.filter((f) => f.ip === "198.51.100.7")).toEqual([{ ip: "198.51.100.7", reason: "mismatch", key_id: key.split("/")[0]! }]);
      expect(now.filter((f) => f.ip === "198.51.100.8")).toEqual([{ ip: "198.51.100.8", reason: "malformed", key_id: null }]);

      // When the window closes the repeats are written as one row.
      let later = failures(sb.db);
      for (let i = 0; i < 100 && later.length < 4; i++) {
        await Bun.sleep(100);
        later = failures(sb.db);
      }
      expect(later.find((f) => f.ip === "198.51.100.7" && f.repeats === 49)).toBeTruthy();
      expect(later.find((f) => f.ip === "198.51.100.8" && f.repeats === 4)).toBeTruthy();
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });

  test("with the lockout on: keyless requests are audited (coalesced) but never lock out; a spray of keys from a locked client adds no rows", async () => {
    const sb = sandbox(`[limits]\nauth_failures = 3\nlockout = "10m"\nauth_failure_log_window = "1h"\n`);
    const server = await startServer(sb);
    try {
      const key = await createKey(sb);
      const from = (ip: string, auth?: string) => get(`${server.url}/invites_api`, { headers: { "X-Forwarded-For": ip, ...(auth ? { Authorization: `Bearer ${auth}` } : {}) } });
      // Keyless: refused and audited as `missing`, one row however many, and the network stays open.
      const keyless = await Promise.all(Array.from({ length: 30 }, () => from("198.51.100.30")));
      expect(keyless.every((r) => r.status === 403)).toBe(true);
      expect((await from("198.51.100.30", "wrong")).status).toBe(403); // judged, not locked out
      await Bun.sleep(200);
      expect(failures(sb.db).filter((f) => f.ip === "198.51.100.30").map((f) => f.reason)).toEqual(["missing", "malformed"]);

      // Lock 198.51.100.31 out, then spray distinct key ids from it: each would be its own row outside a lockout.
      for (let i = 0; i < 3; i++) expect((await from("198.51.100.31", `Locker${String(i).padStart(6, "0")}/${"L".repeat(43)}`)).status).toBe(403);
      await Bun.sleep(200);
      const before = failures(sb.db).length;
      const spray = await Promise.all(Array.from({ length: 300 }, (_, i) => from("198.51.100.31", `Spray${String(i).padStart(7, "0")}/${"S".repeat(43)}`)));
      expect(spray.every((r) => r.status === 429 && r.headers.get("retry-after") !== null)).toBe(true);
      expect((await from("198.51.100.31", key)).status).toBe(201); // the valid key is served meanwhile
      await Bun.sleep(200);
      expect(failures(sb.db).length).toBe(before);
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });

  test("repeat counts still pending at shutdown are written before the database closes", async () => {
    const sb = sandbox(`[limits]\nauth_failures = 0\nauth_failure_log_window = "1h"\n`);
    const server = await startServer(sb);
    const key = await createKey(sb);
    const wrong = `${key.split("/")[0]}/${"C".repeat(43)}`;
    for (let i = 0; i < 3; i++) await get(`${server.url}/invites_api?key=${wrong}`);
    expect(await server.stop()).toBe(0);
    const rows = failures(sb.db);
    expect(rows.map((r) => r.repeats ?? 0)).toEqual([0, 2]);
    const d = new Database(sb.db, { readonly: true });
    const raw = (d.query("SELECT group_concat(details) AS d FROM audit_events").get() as { d: string }).d;
    d.close();
    expect(raw).not.toContain("C".repeat(43));
    sb.cleanup();
  });
});
