// The viewer: `invited audit HOST` / `USER@HOST` with --global, --no-global, --limit, --since, --type, --before and
// --json; the 80-column table; bad input; reading while the server runs.
import { describe, expect, test, beforeAll, afterAll } from "bun:test";
import fc from "fast-check";
import { cli, createKey, get, sandbox, startServer, type Sandbox } from "./helpers.ts";
import { auditJson, DAY, migrate, rows, seed, waitFor } from "./audit-support.ts";
import { renderTable } from "../src/audit/table.ts";
import type { AuditEvent } from "../src/audit/service.ts";

const HOSTS = '[hosts."example.com"]\n[hosts."other.org"]\n';

describe("invited audit (viewer)", () => {
  let sb: Sandbox;
  const now = Date.now();
  beforeAll(async () => {
    sb = sandbox(HOSTS);
    await migrate(sb);
    // 30 events over 30 hours on example.com: every third host-wide, the rest alice's or bob's.
    seed(
      sb,
      Array.from({ length: 30 }, (_, i) => ({
        at: now - (30 - i) * 3_600_000,
        user: i % 3 === 0 ? "" : i % 3 === 1 ? "alice" : "bob",
        type: i % 3 === 0 ? "invite.created" : i % 2 ? "key.created" : "key.auth_failed",
        details: JSON.stringify({ n: i }),
      })),
    );
    seed(sb, [
      { at: now - 5 * DAY, user: "alice", type: "invite.used", details: JSON.stringify({ n: "old" }) },
      { at: now - 1000, host: "other.org", user: "alice", type: "invite.used", details: JSON.stringify({ n: "other" }) },
      { at: now - 2000, host: "", type: "server.started", source: "system", details: JSON.stringify({ n: "server" }) },
      // Same millisecond as the one before: the id decides the order.
      { at: now - 2000, host: "", type: "server.stopped", source: "system", details: JSON.stringify({ n: "server2" }) },
    ]);
  });
  afterAll(() => sb.cleanup());

  const ns = (events: Record<string, any>[]) => events.map((e) => e.details.n);
  const seq = (from: number, to: number) => Array.from({ length: Math.abs(to - from) + 1 }, (_, i) => (from > to ? from - i : from + i));

  test("HOST: newest first, 20 by default, host-wide and server-wide events included, other hosts never", async () => {
    const all = await auditJson(sb, ["example.com"]);
    expect(all).toHaveLength(20);
    expect(ns(all)).toEqual(["server2", "server", ...seq(29, 12)]);
    expect(ns(await auditJson(sb, ["example.com", "--limit", "100"]))).toEqual(["server2", "server", ...seq(29, 0), "old"]);
    expect(ns(await auditJson(sb, ["example.com", "--limit", "3"]))).toEqual(["server2", "server", 29]);
    expect(ns(await auditJson(sb, ["other.org"]))).toEqual(["other", "server2", "server"]);
  });

  test("USER@HOST: one account's events; the local part is matched case-insensitively", async () => {
    const alice = await auditJson(sb, ["alice@example.com", "--limit", "100"]);
    expect(ns(alice)).toEqual([...seq(29, 0).filter((i) => i % 3 === 1), "old"]);
    expect(alice.every((e) => e.user === "alice" && e.host === "example.com")).toBe(true);
    expect(ns(await auditJson(sb, ["ALICE@Example.COM", "--limit", "100"]))).toEqual(ns(alice));
    expect(ns(await auditJson(sb, ["alice@other.org"]))).toEqual(["other"]);
    expect(await auditJson(sb, ["nobody@example.com"])).toEqual([]);
  });

  test("--global and --no-global", async () => {
    const global = await auditJson(sb, ["example.com", "--global", "--limit", "100"]);
    expect(ns(global)).toEqual(["server2", "server", ...seq(29, 0).filter((i) => i % 3 === 0)]);
    expect(global.every((e) => e.user === null)).toBe(true);
    const users = await auditJson(sb, ["example.com", "--no-global", "--limit", "100"]);
    expect(ns(users)).toEqual([...seq(29, 0).filter((i) => i % 3 !== 0), "old"]);
    expect(users.every((e) => e.user === "alice" || e.user === "bob")).toBe(true);
    expect(ns(await auditJson(sb, ["bob@example.com", "--no-global", "--limit", "3"]))).toEqual([29, 26, 23]);
  });

  test("--since, --type and --before", async () => {
    // The last 10 hours: events 20..29 (event i is 30 - i hours old) and the server-wide pair.
    expect(ns(await auditJson(sb, ["example.com", "--since", "10h", "--limit", "100"]))).toEqual(["server2", "server", ...seq(29, 21)]);
    expect(ns(await auditJson(sb, ["example.com", "--since", "1d12h", "--no-global", "--limit", "100"]))).toEqual(seq(29, 0).filter((i) => i % 3 !== 0));
    const sinceDate = new Date(now - 2 * DAY).toISOString().slice(0, 19);
    expect(ns(await auditJson(sb, ["alice@example.com", "--since", sinceDate, "--limit", "100"]))).not.toContain("old");
    expect(ns(await auditJson(sb, ["alice@example.com", "--since", "2000-01-01", "--limit", "100"]))).toContain("old");

    expect(ns(await auditJson(sb, ["example.com", "--type", "invite.created", "--limit", "100"]))).toEqual(seq(29, 0).filter((i) => i % 3 === 0));
    const keys = await auditJson(sb, ["example.com", "--type", "key.*", "--limit", "100"]);
    expect(keys.length).toBe(20);
    expect(keys.every((e) => e.type.startsWith("key."))).toBe(true);
    expect(ns(await auditJson(sb, ["example.com", "--type", "server.*"]))).toEqual(["server2", "server"]);

    // Paging with --before gives the same sequence as one long page.
    const full = await auditJson(sb, ["example.com", "--limit", "100"]);
    const pages: Record<string, any>[] = [];
    let before: number | null = null;
    for (;;) {
      const page = await auditJson(sb, ["example.com", "--limit", "7", ...(before ? ["--before", String(before)] : [])]);
      if (page.length === 0) break;
      pages.push(...page);
      before = page[page.length - 1]!.id;
    }
    expect(pages.map((e) => e.id)).toEqual(full.map((e) => e.id));
  }, 30_000);

  test("--json prints one complete object per line", async () => {
    const r = await cli(["audit", "example.com", "--limit", "4", "--json"], { config: sb.config });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(4);
    for (const line of lines) {
      const e = JSON.parse(line);
      expect(Object.keys(e)).toEqual(["id", "time", "host", "user", "source", "type", "actor", "ip", "location", "user_agent", "details"]);
      expect(new Date(e.time).toISOString()).toBe(e.time);
    }
    expect(JSON.parse(lines[0]!)).toMatchObject({ host: null, user: null, source: "system", type: "server.stopped" });
    expect((await cli(["audit", "other.org", "--since", "1s", "--json"], { config: sb.config })).stdout).toBe("");
  });

  test("bad input: clear error, non-zero exit, no stack trace", async () => {
    const cases: [string[], RegExp][] = [
      [["audit", "nope.example"], /^Error: host 'nope\.example' is not configured/],
      [["audit", "alice@nope.example"], /^Error: host 'nope\.example' is not configured/],
      [["audit"], /^Error: a HOST or USER@HOST argument is required/],
      [["audit", "@example.com"], /^Error: '@example\.com' is not USER@HOST/],
      [["audit", "example.com", "--limit", "0"], /^Error: --limit must be a whole number from 1 to 100000, got '0'/],
      [["audit", "example.com", "--limit", "-3"], /^Error: --limit must be a whole number/],
      [["audit", "example.com", "--limit", "ten"], /^Error: --limit must be a whole number/],
      [["audit", "example.com", "--limit", "1e3"], /^Error: --limit must be a whole number/],
      [["audit", "example.com", "--limit", "100001"], /^Error: --limit must be a whole number/],
      [["audit", "example.com", "--limit"], /^Error: option '--limit' needs a value/],
      [["audit", "example.com", "--since", "yesterday"], /^Error: --since must be a duration like 2d, 12h or 30m, or a date like 2025-01-31, got 'yesterday'/],
      [["audit", "example.com", "--since", "2d5"], /^Error: --since must be/],
      [["audit", "example.com", "--since", "2025-13-45"], /^Error: --since must be/],
      [["audit", "example.com", "--since", "0d"], /^Error: --since must be/],
      [["audit", "example.com", "--type", "invite.exploded"], /^Error: --type 'invite\.exploded' is not an event type; known: key\.created, /],
      [["audit", "example.com", "--type", "nope.*"], /^Error: --type 'nope\.\*' is not an event type/],
      [["audit", "example.com", "--before", "abc"], /^Error: --before must be an event id/],
      [["audit", "alice@example.com", "--global"], /^Error: --global shows host-wide events only; it cannot be combined with USER@HOST/],
      [["audit", "example.com", "--sinse", "2d"], /^Error: unknown option '--sinse'/],
      [["audit", "example.com", "--limit", "1", "--limit", "2"], /^Error: option --limit is given more than once/],
      [["audit", "example.com", "--global", "--no-global"], /^Error: option --global is given more than once/],
      [["audit", "example.com", "other.org"], /^Error: unexpected argument 'other\.org'/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args, { config: sb.config });
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.stdout).toBe("");
    }
  }, 60_000);
});

describe("the table", () => {
  test("has the six columns, fits 80 columns, and shortens long cells", async () => {
    const sb = sandbox();
    try {
      await migrate(sb);
      const now = Date.now();
      seed(sb, [
        { at: now - 3000, user: "a-very-long-username-that-would-never-fit-in-a-column", type: "account.password_reset", ip: "2001:db8:85a3:1234:5678:8a2e:370:7334", countryCode: "GS", countryName: "South Georgia and the South Sandwich Islands", continent: "Antarctica" },
        { at: now - 2000, user: "\u001b[2Jbob", type: "registration.refused", ip: "81.2.69.0/24", countryCode: "GB", countryName: "United Kingdom", continent: "Europe" },
        { at: now - 1000, user: "名前名前名前名前名前名前", type: "invite.used", source: "web", ip: "8.8.8.8", countryCode: "US", countryName: "United States", continent: "North America" },
      ]);
      const r = await cli(["audit", "example.com"], { config: sb.config });
      expect(r.code).toBe(0);
      const lines = r.stdout.trimEnd().split("\n");
      expect(lines[0]).toMatch(/^Date\s+Source\s+Event\s+User\s+IP\s+Location$/);
      for (const line of lines) expect(Bun.stringWidth(line)).toBeLessThanOrEqual(80);
      expect(lines.at(-1)).toBe("3 events shown");
      const body = lines.slice(2, 5).join("\n");
      expect(body).toContain("account.password_reset");
      expect(body).toContain("…"); // the long username and IPv6 address were cut
      expect(body).toContain("8.8.8.8");
      expect(body).toMatch(/\bUS\b/);
      expect(r.stdout).not.toContain("\u001b"); // terminal escapes in stored data are neutralised
      expect(body).toContain("?[2Jbob");
      // The date column is UTC, to the second.
      expect(lines[2]).toStartWith(new Date(now - 1000).toISOString().slice(0, 19).replace("T", " "));
    } finally {
      sb.cleanup();
    }
  });

  test("empty log", async () => {
    const sb = sandbox();
    try {
      await migrate(sb);
      const r = await cli(["audit", "example.com", "--type", "account.deleted"], { config: sb.config });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Date\s+Source\s+Event\s+User\s+IP\s+Location\n-+\n-+\n0 events shown\n$/);
    } finally {
      sb.cleanup();
    }
  });

  test("property: any stored values render within the width, one line per event", () => {
    const text = fc.string({ unit: "grapheme", maxLength: 80 });
    const event = fc.record({
      id: fc.nat(),
      at: fc.integer({ min: 0, max: 4_102_444_800_000 }),
      host: fc.constant("example.com"),
      user: fc.oneof(text, fc.string({ unit: "binary", maxLength: 40 })),
      source: fc.constantFrom("api", "web", "cli", "system"),
      type: fc.oneof(fc.constantFrom("account.password_reset", "key.auth_failed"), text),
      actor: fc.constant(null),
      ip: fc.option(fc.oneof(fc.ipV4(), fc.ipV6(), text)),
      countryCode: fc.option(fc.string({ minLength: 2, maxLength: 2 })),
      countryName: fc.option(text),
      continent: fc.option(text),
      userAgent: fc.constant(null),
      details: fc.constant({}),
    }) as fc.Arbitrary<AuditEvent>;
    fc.assert(
      fc.property(fc.array(event, { maxLength: 8 }), fc.integer({ min: 80, max: 200 }), (events, width) => {
        const lines = renderTable(events, width);
        expect(lines).toHaveLength(events.length + 2);
        for (const line of lines) {
          expect(Bun.stringWidth(line)).toBeLessThanOrEqual(width);
          expect(line).not.toMatch(/[\x00-\x1f\x7f-\x9f]/);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("while the server runs", () => {
  test("the viewer reads the live database (WAL) while requests keep writing", async () => {
    const sb = sandbox();
    try {
      const server = await startServer(sb);
      try {
        const secret = await createKey(sb);
        const load = (async () => {
          for (let i = 0; i < 40; i++) {
            const r = await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${secret}`, "X-Forwarded-For": "81.2.69.142" } });
            expect(r.status).toBe(201);
          }
        })();
        const views = await Promise.all([1, 2, 3].map(() => cli(["audit", "example.com", "--limit", "100"], { config: sb.config })));
        await load;
        for (const v of views) {
          expect(v.code).toBe(0);
          expect(v.stderr).toBe("");
          expect(v.stdout).toContain("server.started");
        }
        await waitFor(() => rows(sb, "type = 'invite.created'").length === 40, "40 invites");
        const table = await cli(["audit", "example.com", "--limit", "5"], { config: sb.config });
        const line = table.stdout.split("\n")[2]!;
        expect(line).toMatch(/ api +invite\.created +81\.2\.69\.142 +GB( United Kingdom)?$/);
        const json = await auditJson(sb, ["example.com", "--type", "invite.created", "--limit", "1"]);
        expect(json[0]).toMatchObject({ ip: "81.2.69.142", location: { country_code: "GB", country_name: "United Kingdom", continent: "Europe" } });
      } finally {
        await server.stop();
      }
    } finally {
      sb.cleanup();
    }
  }, 60_000);
});
