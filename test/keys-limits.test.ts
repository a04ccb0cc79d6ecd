import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cli, get, sandbox, startServer, withServer, type Sandbox } from "./helpers.ts";
import { call, createKeyWith } from "./api-helpers.ts";
import { KeyLimiter } from "../src/keys/limits.ts";
import { parseRate } from "../src/limits/rate.ts";

// Client addresses are simulated with X-Forwarded-For: 127.0.0.1 is a trusted proxy by default.
const mint = (base: string, key: string, ip?: string) =>
  get(`${base}/invites_api`, { headers: { Authorization: `Bearer ${key}`, ...(ip ? { "X-Forwarded-For": ip } : {}) } });

function events(sb: Sandbox, type: string): Record<string, any>[] {
  const d = new Database(sb.db, { readonly: true });
  try {
    return (d.query("SELECT * FROM audit_events WHERE type = ? ORDER BY id").all(type) as Record<string, any>[]).map((e) => ({ ...e, details: JSON.parse(e.details) }));
  } finally {
    d.close();
  }
}

async function eventually(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 250 && !check(); i++) await Bun.sleep(20);
  return check();
}

const LIMITS = (extra: string) => `[limits]\n${extra}\n`;

describe("per-key rate (--rate)", () => {
  test("over its rate a key gets 429 with Retry-After on both APIs; other keys are unaffected; it recovers", async () => {
    await withServer(LIMITS("auth_failures = 0"), async (s, sb) => {
      const limited = await createKeyWith(sb, ["--rate", "2/sec", "--scope", "invite:create", "--scope", "invite:list"]);
      const free = await createKeyWith(sb);
      expect((await mint(s.url, limited)).status).toBe(201);
      expect((await call(s.url, "GET", "/api/v1/invites", { key: limited })).status).toBe(200); // one bucket for both APIs
      const over = await mint(s.url, limited);
      expect(over.status).toBe(429);
      expect(over.headers.get("retry-after")).toBe("1");
      expect(over.headers.get("location")).toBeNull();
      expect(over.headers.get("access-control-allow-origin")).toBe("*");
      const json = await call(s.url, "GET", "/api/v1/invites", { key: limited });
      expect(json.status).toBe(429);
      expect(json.body.error.code).toBe("rate_limited");
      expect(json.headers.get("retry-after")).toBe("1");
      expect((await mint(s.url, free)).status).toBe(201);
      await Bun.sleep(1100);
      expect((await mint(s.url, limited)).status).toBe(201);
    });
  });

  test("60/min style rates: the burst is N, then Retry-After says when the next request fits", async () => {
    await withServer(LIMITS("auth_failures = 0"), async (s, sb) => {
      const key = await createKeyWith(sb, ["--rate", "3/min"]);
      for (let i = 0; i < 3; i++) expect((await mint(s.url, key)).status).toBe(201);
      const r = await mint(s.url, key);
      expect(r.status).toBe(429);
      const wait = Number(r.headers.get("retry-after"));
      expect(wait).toBeGreaterThanOrEqual(19);
      expect(wait).toBeLessThanOrEqual(20);
    });
  });
});

describe("lockout after repeated authentication failures", () => {
  test("429 + Retry-After + auth.lockout event for failing keys; a valid key from the locked address is still served; released after the lockout", async () => {
    await withServer(LIMITS('auth_failures = 3\nauth_window = "1m"\nlockout = "2s"'), async (s, sb) => {
      const key = await createKeyWith(sb, ["--scope", "invite:create", "--scope", "invite:list"]);
      const bad = `${key.split("/")[0]}/${"A".repeat(43)}`;
      const attacker = "203.0.113.5";
      expect((await mint(s.url, bad, attacker)).status).toBe(403);
      expect((await call(s.url, "GET", "/api/v1/invites", { key: "nonsense", ip: attacker })).status).toBe(403); // /api/v1 failures count too
      const third = await mint(s.url, bad, attacker);
      expect(third.status).toBe(403); // the failure that triggers the lockout is still answered as what it is
      const lockedAt = Date.now();

      // A failing key from the locked address: 429, on both APIs, whatever the reason it fails.
      const refused = await mint(s.url, bad, attacker);
      expect(refused.status).toBe(429);
      const retry = Number(refused.headers.get("retry-after"));
      expect(retry).toBeGreaterThanOrEqual(1);
      expect(retry).toBeLessThanOrEqual(2);
      expect(refused.headers.get("access-control-allow-origin")).toBe("*");
      const json = await call(s.url, "GET", "/api/v1/invites", { key: bad, ip: attacker });
      expect(json.status).toBe(429);
      expect(json.body.error.code).toBe("locked_out");
      expect(Number(json.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      // The right key from the locked address is served, on both APIs.
      expect((await mint(s.url, key, attacker)).status).toBe(201);
      expect((await call(s.url, "GET", "/api/v1/invites", { key, ip: attacker })).status).toBe(200);
      // Other addresses are not affected.
      expect((await mint(s.url, key, "203.0.113.6")).status).toBe(201);
      expect((await mint(s.url, bad, "203.0.113.6")).status).toBe(403);

      expect(await eventually(() => events(sb, "auth.lockout").length === 1)).toBe(true);
      const ev = events(sb, "auth.lockout")[0]!;
      expect(ev.details.network).toBe("203.0.113.5/32");
      expect(ev.details.failures).toBe(3);
      expect(ev.details.lockout_ms).toBe(2000);
      expect(ev.ip).toBe("203.0.113.5");
      expect(ev.host).toBe("example.com"); // the failing key id named this host
      // Failures during a lockout are neither audited nor extend it. The third failure repeats the first (same
      // client, key and reason): it is folded into that row's repeat count, written when the
      // auth_failure_log_window closes; the other address's failure has its own row. So three rows exist now.
      expect(await eventually(() => events(sb, "key.auth_failed").length === 3)).toBe(true);

      await Bun.sleep(Math.max(0, lockedAt + 2200 - Date.now()));
      expect((await mint(s.url, key, attacker)).status).toBe(201);
      // The count starts again from zero: a wrong key is a 403 again, not a 429.
      expect((await mint(s.url, bad, attacker)).status).toBe(403);
      expect((await mint(s.url, key, attacker)).status).toBe(201);
    });
  });

  test("a locked network: a valid key gets 201 from /invites_api and POST /api/v1/invites; wrong, unknown and malformed keys get 429 with Retry-After and cost no audit row; keyless requests get the usual 401/403", async () => {
    await withServer(LIMITS('auth_failures = 2\nlockout = "10m"'), async (s, sb) => {
      const key = await createKeyWith(sb, ["--scope", "invite:create", "--scope", "invite:list"]);
      const id = key.split("/")[0]!;
      const net = "198.51.100.44";
      for (const _ of [1, 2]) expect((await mint(s.url, `${id}/${"W".repeat(43)}`, net)).status).toBe(403);
      expect(await eventually(() => events(sb, "auth.lockout").length === 1)).toBe(true);

      expect((await mint(s.url, key, net)).status).toBe(201);
      const created = await call(s.url, "POST", "/api/v1/invites", { key, ip: net, body: {} });
      expect(created.status).toBe(201);
      expect(created.body.id).toBeString();

      const rowsBefore = events(sb, "key.auth_failed").length;
      // Guessing while locked out: the wrong token of a real key id, unknown ids, junk. Every one is a 429, never a 403
      // that would tell a guess was judged; none is audited one by one or extends the lockout.
      const guesses = [`${id}/${"X".repeat(43)}`, ...Array.from({ length: 20 }, (_, i) => `Guess${String(i).padStart(7, "0")}/${"Y".repeat(43)}`), "junk"];
      for (const g of guesses) {
        const r = await mint(s.url, g, net);
        expect(`${g} -> ${r.status}`).toBe(`${g} -> 429`);
        expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(590);
        const j = await call(s.url, "POST", "/api/v1/invites", { key: g, ip: net, body: {} });
        expect(j.status).toBe(429);
        expect(j.body.error.code).toBe("locked_out");
        expect(Number(j.headers.get("retry-after"))).toBeGreaterThan(590);
      }
      // Requests without any key are refused as usual (they guess nothing).
      expect((await get(`${s.url}/invites_api`, { headers: { "X-Forwarded-For": net } })).status).toBe(403);
      const keyless = await call(s.url, "POST", "/api/v1/invites", { ip: net, body: {} });
      expect(keyless.status).toBe(401);
      expect(keyless.body.error.code).toBe("missing_key");
      await Bun.sleep(100);
      // The two keyless requests above were audited as `missing` (one row per client, key id and reason: one row).
      const after = events(sb, "key.auth_failed");
      expect(after.length).toBe(rowsBefore + 1);
      expect(after.at(-1)!.details.reason).toBe("missing");
      expect(events(sb, "auth.lockout").length).toBe(1);
      // The key's own work is still served and still counted.
      expect((await call(s.url, "GET", "/api/v1/invites", { key, ip: net })).body.invites.length).toBe(2);

      const m = await (await get(`${s.url}/metrics`)).text();
      expect(m).toContain(`invited_locked_out_requests_total ${guesses.length * 2}\n`);
    });
  });

  test("a valid key from a locked network is still held to its own --rate", async () => {
    await withServer(LIMITS('auth_failures = 1\nlockout = "10m"'), async (s, sb) => {
      const key = await createKeyWith(sb, ["--rate", "2/min"]);
      const net = "192.0.2.77";
      expect((await mint(s.url, "nope", net)).status).toBe(403);
      expect((await mint(s.url, "nope", net)).status).toBe(429); // locked
      expect((await mint(s.url, key, net)).status).toBe(201);
      expect((await mint(s.url, key, net)).status).toBe(201);
      const over = await mint(s.url, key, net);
      expect(over.status).toBe(429);
      expect(Number(over.headers.get("retry-after"))).toBeLessThanOrEqual(30); // the key's bucket, not the 10-minute lockout
      const json = await call(s.url, "GET", "/api/v1/invites", { key, ip: net });
      expect(json.status).toBe(429);
      expect(json.body.error.code).toBe("rate_limited");
    });
  });

  test("requests without a key never count towards a lockout: 10 keyless GETs (and more) leave the network open", async () => {
    await withServer("", async (s, sb) => {
      // Default limits: 10 failures lock out.
      const key = await createKeyWith(sb);
      const net = "203.0.113.99";
      for (let i = 0; i < 10; i++) expect((await get(`${s.url}/invites_api`, { headers: { "X-Forwarded-For": net } })).status).toBe(403);
      for (let i = 0; i < 5; i++) expect((await get(`${s.url}/invites_api?key=`, { headers: { "X-Forwarded-For": net } })).status).toBe(403);
      for (let i = 0; i < 5; i++) expect((await call(s.url, "GET", "/api/v1/invites", { ip: net })).status).toBe(401);
      for (let i = 0; i < 5; i++) expect((await get(`${s.url}/invites_api`, { headers: { "X-Forwarded-For": net, Authorization: "Basic Zm9vOmJhcg==" } })).status).toBe(403);
      // Not locked: a wrong key is judged (403, not 429) and a valid one is served.
      expect((await mint(s.url, "wrong", net)).status).toBe(403);
      expect((await mint(s.url, key, net)).status).toBe(201);
      await Bun.sleep(100);
      expect(events(sb, "auth.lockout")).toHaveLength(0);
      // The keyless requests are still audited, coalesced into one row per client address and reason.
      expect(events(sb, "key.auth_failed").filter((e) => e.details.reason === "missing")).toHaveLength(1);
    });
  });

  test("addresses are counted by network: ipv4_prefix and ipv6_prefix", async () => {
    await withServer(LIMITS('auth_failures = 2\nlockout = "1m"\nipv4_prefix = 24\nipv6_prefix = 64'), async (s, sb) => {
      const key = await createKeyWith(sb);
      // Failures from two addresses of one /24 add up.
      // Failures from two addresses of one /24 add up: a third address of it is locked out too (a failing key gets
      // 429), while the next /24 is judged as usual (403). A valid key is served in both.
      expect((await mint(s.url, "bad", "198.51.100.7")).status).toBe(403);
      expect((await mint(s.url, "bad", "198.51.100.8")).status).toBe(403);
      expect((await mint(s.url, "bad", "198.51.100.200")).status).toBe(429);
      expect((await mint(s.url, key, "198.51.100.200")).status).toBe(201);
      expect((await mint(s.url, "bad", "198.51.101.1")).status).toBe(403);
      expect((await mint(s.url, "bad", "2001:db8:1:2::1")).status).toBe(403);
      expect((await mint(s.url, "bad", "2001:db8:1:2:ffff::9")).status).toBe(403);
      expect((await mint(s.url, "bad", "2001:db8:1:2::abcd")).status).toBe(429);
      expect((await mint(s.url, key, "2001:db8:1:2::abcd")).status).toBe(201);
      expect((await mint(s.url, "bad", "2001:db8:1:3::1")).status).toBe(403);
      expect((await mint(s.url, "bad", "::ffff:198.51.100.9")).status).toBe(429); // IPv4-mapped is the IPv4 address
      await eventually(() => events(sb, "auth.lockout").length === 2);
      expect(events(sb, "auth.lockout").map((e) => e.details.network)).toEqual(["198.51.100.0/24", "2001:db8:1:2::/64"]);
    });
  });

  test("failures spread wider than auth_window do not lock out; auth_failures = 0 turns the lockout off", async () => {
    await withServer(LIMITS('auth_failures = 3\nauth_window = "1s"\nlockout = "1m"'), async (s, sb) => {
      const key = await createKeyWith(sb);
      for (const _ of [1, 2]) expect((await mint(s.url, "bad", "192.0.2.1")).status).toBe(403);
      await Bun.sleep(1100);
      // Four failures, but never three within 1s: the fourth is still judged (403), not refused as locked out (429).
      for (const _ of [1, 2]) expect((await mint(s.url, "bad", "192.0.2.1")).status).toBe(403);
      expect((await mint(s.url, key, "192.0.2.1")).status).toBe(201);
    });
    await withServer(LIMITS("auth_failures = 0"), async (s, sb) => {
      const key = await createKeyWith(sb);
      for (let i = 0; i < 30; i++) expect((await mint(s.url, "bad", "192.0.2.1")).status).toBe(403);
      expect((await mint(s.url, key, "192.0.2.1")).status).toBe(201);
      expect(events(sb, "auth.lockout")).toHaveLength(0);
    });
  });

  test("the lockout is in memory: a restart releases it", async () => {
    const sb = sandbox(LIMITS('auth_failures = 1\nlockout = "1h"'));
    try {
      const key = await createKeyWith(sb);
      let s = await startServer(sb);
      expect((await mint(s.url, "bad", "192.0.2.9")).status).toBe(403);
      expect((await mint(s.url, "bad", "192.0.2.9")).status).toBe(429);
      expect((await mint(s.url, key, "192.0.2.9")).status).toBe(201);
      await s.stop();
      s = await startServer(sb);
      expect((await mint(s.url, "bad", "192.0.2.9")).status).toBe(403); // judged again (and it locks out again)
      await s.stop();
    } finally {
      sb.cleanup();
    }
  });

  test("[limits] values are validated (exit 2, naming the key)", async () => {
    for (const bad of ["auth_failures = -1", 'auth_failures = "ten"', 'lockout = "soon"', "ipv4_prefix = 33", "ipv6_prefix = 129", 'auth_window = "0s"', "bogus = 1"]) {
      const sb = sandbox(LIMITS(bad));
      try {
        const r = await cli(["key", "list", "example.com"], { config: sb.config });
        expect(`${bad} -> ${r.code}`).toBe(`${bad} -> 2`);
        expect(r.stderr).toContain("limits.");
      } finally {
        sb.cleanup();
      }
    }
  });
});

describe("KeyLimiter (the in-memory state itself)", () => {
  const limits = { authFailures: 3, authWindow: 60_000, authFailureWindow: 60_000, lockout: 900_000, ipv4Prefix: 32, ipv6Prefix: 64 };

  test("token bucket: burst of N, refill at N per period, Retry-After rounds up", () => {
    const l = new KeyLimiter(limits);
    const t0 = 1_000_000;
    for (let i = 0; i < 60; i++) expect(l.takeRate("k", "60/min", t0)).toBe(0);
    expect(l.takeRate("k", "60/min", t0)).toBe(1000);
    expect(l.takeRate("k", "60/min", t0 + 999)).toBe(1);
    expect(l.takeRate("k", "60/min", t0 + 1000)).toBe(0);
    expect(l.takeRate("k", null, t0)).toBe(0);
    expect(l.takeRate("other", "1/day", t0)).toBe(0);
    expect(l.takeRate("other", "1/day", t0 + 1)).toBe(86_400_000 - 1);
    // A changed rate starts a fresh bucket.
    expect(l.takeRate("k", "1/sec", t0 + 1000)).toBe(0);
  });

  test("lockout window, release and bounded memory", () => {
    const l = new KeyLimiter(limits, 100);
    const t0 = 5_000_000;
    expect(l.recordFailure("192.0.2.1", t0)).toBeNull();
    expect(l.recordFailure("192.0.2.1", t0 + 1)).toBeNull();
    expect(l.recordFailure("192.0.2.1", t0 + 2)).toEqual({ network: "192.0.2.1/32", failures: 3, until: t0 + 2 + 900_000 });
    expect(l.lockedFor("192.0.2.1", t0 + 3)).toBe(899_999);
    expect(l.lockedFor("192.0.2.2", t0 + 3)).toBe(0);
    expect(l.lockedFor("192.0.2.1", t0 + 2 + 900_000)).toBe(0);
    // Window: failures older than auth_window are forgotten.
    expect(l.recordFailure("192.0.2.3", t0)).toBeNull();
    expect(l.recordFailure("192.0.2.3", t0 + 1)).toBeNull();
    expect(l.recordFailure("192.0.2.3", t0 + 60_000)).toBeNull();
    // A flood of addresses keeps the maps bounded and still locks the one that keeps failing.
    for (let i = 0; i < 1000; i++) l.recordFailure(`10.0.${i >> 8}.${i & 255}`, t0);
    for (let i = 0; i < 3; i++) l.recordFailure("2001:db8::1", t0 + 10);
    expect(l.lockedFor("2001:db8::ffff", t0 + 11)).toBeGreaterThan(0);
    expect(new KeyLimiter({ ...limits, authFailures: 0 }).recordFailure("192.0.2.1", t0)).toBeNull();
    expect(l.lockedFor(null, t0)).toBe(0);
    expect(l.recordFailure("not an ip", t0)).toBeNull();
  });

  test("rate syntax", () => {
    expect(parseRate("60/min")).toEqual({ count: 60, periodMs: 60_000 });
    expect(parseRate("5/sec")).toEqual({ count: 5, periodMs: 1000 });
    expect(parseRate("100/hour")).toEqual({ count: 100, periodMs: 3_600_000 });
    expect(parseRate("1/day")).toEqual({ count: 1, periodMs: 86_400_000 });
    for (const bad of ["0/min", "60", "60/minute", "/min", "1.5/sec", "-1/sec", " 1/sec", "99999999/sec", "1/min/x"]) expect(parseRate(bad)).toBeNull();
  });
});
