// Abuse resistance of the registration door (issue 14): refusals cannot flood the audit log, the per-address
// throttle, and bounded hashing after the cheap checks. Real server, real HTTP, a fresh database per test.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { cli, get, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { accountCount, auditEvents, createInvite, inviteRow, postForm, query, register } from "./invite-helpers.ts";
import { count, migrate, seed } from "./audit-support.ts";

const SLOW = 120_000;
const PASSWORD = "correct horse battery";

async function withServerOn<T>(sb: Sandbox, fn: (server: TestServer) => Promise<T>): Promise<T> {
  const server = await startServer(sb);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/** How many refusals the rows stand for: a row with `repeats: N` stands for N more of its group. */
function refusalTotal(sb: Sandbox, reason?: string): number {
  return auditEvents(sb, "registration.refused")
    .map((e) => JSON.parse(e.details) as { reason: string; repeats?: number })
    .filter((d) => reason === undefined || d.reason === reason)
    .reduce((n, d) => n + (d.repeats ?? 1), 0);
}

/** `n` requests, at most `width` in flight at a time. */
async function pooled(n: number, width: number, send: (i: number) => Promise<Response>): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        const r = await send(i);
        await r.arrayBuffer();
        statuses.push(r.status);
      }
    }),
  );
  return statuses;
}

function vmHwmMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

describe("refused registrations cannot flood the audit log", () => {
  test("5,000 refused POSTs add a handful of rows, and max_rows keeps every real event", async () => {
    const sb = sandbox('[audit]\nmax_rows = 60\nprune_interval = "1d"\n');
    try {
      const unknown = "0".repeat(12) + "A".repeat(22); // well-formed, matches no invite
      const real = await withServerOn(sb, async (server) => {
        const invite = await createInvite(sb, ["--uses", "10"]);
        expect((await register(server, invite.token, "alice", PASSWORD)).status).toBe(200);
        const statuses = await pooled(5000, 16, (i) =>
          i % 2 === 0
            ? postForm(server, { token: unknown, user: "x", password: PASSWORD }) // unknown token
            : register(server, invite.token, `bob${i}`, "short"), // a refusal on a valid token
        );
        expect(new Set(statuses)).toEqual(new Set([303, 400]));
        // The first of each group at once, the repeats when the window closes or the server stops.
        expect(count(sb, "type = 'registration.refused'")).toBeLessThanOrEqual(4);
        return count(sb, "type <> 'registration.refused'");
      });
      const rows = count(sb, "type = 'registration.refused'");
      expect(rows).toBeLessThanOrEqual(6);
      expect(refusalTotal(sb)).toBe(5000);
      expect(refusalTotal(sb, "invite_unknown")).toBe(2500);
      expect(refusalTotal(sb, "password_too_short")).toBe(2500);
      // Nothing real was lost: the account, its invite's events and the server's own start and stop.
      expect(count(sb, "type <> 'registration.refused'")).toBe(real + 1); // + server.stopped
      for (const type of ["invite.created", "invite.used", "account.registered", "server.started", "server.stopped"]) {
        expect(count(sb, "type = ?", type)).toBeGreaterThan(0);
      }
    } finally {
      sb.cleanup();
    }
  }, SLOW);

  test("over max_rows, refusals and failed key checks are pruned before real events, oldest first", async () => {
    const sb = sandbox("[audit]\nmax_rows = 100\n");
    try {
      await migrate(sb);
      const now = Date.now();
      // Real events are the oldest here: an age-only quota would take them first.
      seed(sb, Array.from({ length: 80 }, (_, i) => ({ at: now - 10_000 + i, type: "account.registered", user: `u${i}` })));
      seed(sb, Array.from({ length: 60 }, (_, i) => ({ at: now - 5_000 + i, type: "registration.refused" })));
      seed(sb, Array.from({ length: 20 }, (_, i) => ({ at: now - 4_000 + i, type: "key.auth_failed" })));
      const r = await cli(["audit", "prune"], { config: sb.config });
      expect(r.code).toBe(0);
      expect(count(sb)).toBe(100);
      expect(count(sb, "type = 'account.registered'")).toBe(80);
      // 60 of the 80 noise rows went, the oldest first.
      expect(count(sb, "type IN ('registration.refused', 'key.auth_failed')")).toBe(20);
      expect(count(sb, "type = 'key.auth_failed'")).toBe(20);
      // Past the noise, the oldest real events go.
      seed(sb, Array.from({ length: 30 }, (_, i) => ({ at: now + i, type: "invite.created" })));
      expect((await cli(["audit", "prune"], { config: sb.config })).code).toBe(0);
      expect(count(sb, "type IN ('registration.refused', 'key.auth_failed')")).toBe(0);
      expect(count(sb, "type = 'invite.created'")).toBe(30);
      expect(count(sb, "type = 'account.registered'")).toBe(70);
    } finally {
      sb.cleanup();
    }
  }, SLOW);
});

describe("registration throttle", () => {
  test("over registration_rate: 429 with Retry-After and a page that says when; the invite is untouched", async () => {
    const sb = sandbox('[limits]\nregistration_rate = "2/hour"\n');
    try {
      await withServerOn(sb, async (server) => {
        const invite = await createInvite(sb, ["--uses", "10"]);
        // Cheap refusals (a short password) reach no hash and do not count.
        for (let i = 0; i < 5; i++) expect((await register(server, invite.token, `cheap${i}`, "short")).status).toBe(400);
        expect((await register(server, invite.token, "one", PASSWORD)).status).toBe(200);
        expect((await register(server, invite.token, "two", PASSWORD)).status).toBe(200);
        const third = await register(server, invite.token, "three", PASSWORD);
        expect(third.status).toBe(429);
        const retry = Number(third.headers.get("retry-after"));
        expect(retry).toBeGreaterThan(1700); // one of 2 per hour comes back after 30 minutes
        expect(retry).toBeLessThanOrEqual(1800);
        const page = await third.text();
        expect(page).toContain("Too many sign-up attempts");
        expect(page).toContain("try again in 30 minutes"); // Intl.RelativeTimeFormat, in the page's language
        expect(page).toContain("your invite still works");
        expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 2, reserved: 0 });
        expect(accountCount(sb)).toBe(2);
        // Another client network is not affected (X-Forwarded-For from 127.0.0.1, a trusted proxy by default).
        expect((await register(server, invite.token, "four", PASSWORD, { "X-Forwarded-For": "198.51.100.7" })).status).toBe(200);
      });
      expect(refusalTotal(sb, "throttled")).toBe(1);
    } finally {
      sb.cleanup();
    }
  }, SLOW);

  test("IPv6 clients are counted by ipv6_prefix, and reset invites are throttled too", async () => {
    const sb = sandbox('[limits]\nregistration_rate = "1/day"\nipv6_prefix = 64\n');
    try {
      await withServerOn(sb, async (server) => {
        const invite = await createInvite(sb, ["--uses", "10"]);
        const from = (ip: string) => ({ "X-Forwarded-For": ip });
        expect((await register(server, invite.token, "first", PASSWORD, from("2001:db8:1:2::1"))).status).toBe(200);
        // Same /64, another address: the same bucket.
        expect((await register(server, invite.token, "second", PASSWORD, from("2001:db8:1:2:ffff::9"))).status).toBe(429);
        // Another /64: its own bucket.
        expect((await register(server, invite.token, "third", PASSWORD, from("2001:db8:1:3::1"))).status).toBe(200);
        const reset = await cli(["invite", "create", "example.com", "--reset", "first"], { config: sb.config });
        expect(reset.code).toBe(0);
        const token = /\?([0-9A-Za-z_-]{34})/.exec(reset.stdout)![1]!;
        const r = await postForm(server, { token, password: "another good passphrase" }, from("2001:db8:1:2::5"));
        expect(r.status).toBe(429);
        expect(query<{ uses: number }>(sb, "SELECT uses FROM invites WHERE kind = 'reset'")[0]!.uses).toBe(0);
      });
    } finally {
      sb.cleanup();
    }
  }, SLOW);

  test('registration_rate = "off" turns it off; a malformed rate is a config error', async () => {
    const bad = sandbox('[limits]\nregistration_rate = "5 per hour"\n');
    try {
      const r = await cli(["check", "--quick"], { config: bad.config });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("'limits.registration_rate' must be a rate like \"5/hour\"");
    } finally {
      bad.cleanup();
    }
    const sb = sandbox('[limits]\nregistration_rate = "off"\n');
    try {
      await withServerOn(sb, async (server) => {
        const invite = await createInvite(sb, ["--uses", "20"]);
        for (let i = 0; i < 8; i++) expect((await register(server, invite.token, `user${i}`, PASSWORD)).status).toBe(200);
      });
    } finally {
      sb.cleanup();
    }
  }, SLOW);
});

describe("bounded hashing after the cheap checks", () => {
  test("200 parallel registrations on an unlimited invite: only 200/409/429/503, every 200 an account, bounded memory", async () => {
    const sb = sandbox("[limits]\nhash_concurrency = 2\nhash_queue = 64\n");
    try {
      await withServerOn(sb, async (server) => {
        const invite = await createInvite(sb, ["--unlimited"]);
        const responses = await Promise.all(
          Array.from({ length: 200 }, (_, i) => register(server, invite.token, `flood${i}`, PASSWORD, { "X-Forwarded-For": `203.0.113.${i % 250}` })),
        );
        const statuses = responses.map((r) => r.status);
        const shed = responses.filter((r) => r.status === 503);
        for (const r of shed) expect(r.headers.get("retry-after")).toBe("5");
        await Promise.all(responses.map((r) => r.arrayBuffer()));
        for (const s of statuses) expect([200, 409, 429, 503]).toContain(s);
        const created = statuses.filter((s) => s === 200).length;
        expect(created).toBeGreaterThanOrEqual(66); // everyone admitted to the queue (2 running + 64 waiting) got in
        expect(shed.length).toBeGreaterThan(0);
        expect(accountCount(sb)).toBe(created);
        expect(inviteRow(sb, invite.id)).toMatchObject({ uses: created, reserved: 0 });
        const metrics = await (await get(`${server.url}/metrics`)).text();
        expect(metrics).toMatch(new RegExp(`^invited_password_hashes_total ${created}$`, "m"));
        expect(metrics).toMatch(new RegExp(`^invited_registrations_shed_total ${shed.length}$`, "m"));
        // Peak RSS: at most 128 MiB + 64 MiB per concurrent hash (docs/abuse-controls.md).
        const peak = vmHwmMiB(server.proc.pid);
        expect(peak).toBeLessThanOrEqual(128 + 64 * 2);
        // Shed attempts used nothing up: the invite still works.
        expect((await register(server, invite.token, "afterwards", PASSWORD)).status).toBe(200);
      });
    } finally {
      sb.cleanup();
    }
  }, SLOW);

  test("hash_queue = 0: a second registration while one hashes gets 503 and consumes nothing", async () => {
    const sb = sandbox("[limits]\nhash_concurrency = 1\nhash_queue = 0\n");
    try {
      await withServerOn(sb, async (server) => {
        const invite = await createInvite(sb, ["--uses", "5"]);
        const [a, b, c] = await Promise.all(["q1", "q2", "q3"].map((u) => register(server, invite.token, u, PASSWORD)));
        const statuses = [a!.status, b!.status, c!.status].sort();
        expect(statuses[0]).toBe(200);
        expect(statuses.filter((s) => s === 503).length).toBeGreaterThan(0);
        const busy = [a!, b!, c!].find((r) => r.status === 503)!;
        expect(await busy.text()).toContain("try again in a few seconds");
        expect(inviteRow(sb, invite.id)).toMatchObject({ uses: statuses.filter((s) => s === 200).length, reserved: 0 });
      });
      expect(refusalTotal(sb, "server_busy")).toBeGreaterThan(0);
    } finally {
      sb.cleanup();
    }
  }, SLOW);
});
