// Retention: expired events and the max_rows quota, pruned in batches by `invited audit prune [HOST]` and by the
// server (shortly after start, then every prune_interval). Old rows are inserted directly to simulate age.
import { describe, expect, test } from "bun:test";
import { cli, createKey, get, sandbox, startServer } from "./helpers.ts";
import { count, DAY, migrate, rows, seed, waitFor, type SeedRow } from "./audit-support.ts";
import { openContext } from "../src/bootstrap.ts";
import { loadConfig } from "../src/config/index.ts";
import { pruneEvents } from "../src/audit/service.ts";

const TWO_HOSTS = '[hosts."example.com"]\n[hosts."other.org"]\n';

function many(n: number, make: (i: number) => SeedRow): SeedRow[] {
  return Array.from({ length: n }, (_, i) => make(i));
}

describe("audit retention", () => {
  test("invited audit prune deletes expired events in batches and keeps the rest", async () => {
    const sb = sandbox();
    try {
      await migrate(sb);
      const now = Date.now();
      seed(sb, many(12_000, (i) => ({ at: now - 40 * DAY + i, type: "key.auth_failed" })));
      seed(sb, many(30, (i) => ({ at: now - 27 * DAY + i, type: "invite.created" })));
      seed(sb, [{ at: now - 29 * DAY, host: "", type: "server.started", source: "system" }]);
      const r = await cli(["audit", "prune"], { config: sb.config });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("Pruned 12001 expired events (older than 28d).\n");
      expect(count(sb)).toBe(30);
      expect(count(sb, "type = 'invite.created' AND at > ?", now - 28 * DAY)).toBe(30);
      // Nothing left to do.
      expect((await cli(["audit", "prune"], { config: sb.config })).stdout).toBe("Pruned 0 expired events (older than 28d).\n");
    } finally {
      sb.cleanup();
    }
  });

  test("expires_after is honoured, and prune HOST touches only that host", async () => {
    const sb = sandbox(`${TWO_HOSTS}[audit]\nexpires_after = "2h"\n`);
    try {
      await migrate(sb);
      const now = Date.now();
      for (const host of ["example.com", "other.org", ""]) {
        seed(sb, many(40, (i) => ({ at: now - 3 * 3_600_000 - i, host })));
        seed(sb, many(5, (i) => ({ at: now - 3_600_000 + i, host })));
      }
      const r = await cli(["audit", "prune", "example.com"], { config: sb.config });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("Pruned 40 expired events of example.com (older than 2h).\n");
      expect(count(sb, "host = 'example.com'")).toBe(5);
      expect(count(sb, "host = 'other.org'")).toBe(45);
      expect(count(sb, "host = ''")).toBe(45);
      expect((await cli(["audit", "prune"], { config: sb.config })).stdout).toBe("Pruned 80 expired events (older than 2h).\n");
      expect(count(sb)).toBe(15);
    } finally {
      sb.cleanup();
    }
  });

  test("past max_rows the oldest rows go first (after the expired ones)", async () => {
    const sb = sandbox("[audit]\nmax_rows = 100\n");
    try {
      await migrate(sb);
      const now = Date.now();
      seed(sb, many(30, (i) => ({ at: now - 30 * DAY + i, type: "key.deleted" })));
      // 150 recent rows; the first 20 share one timestamp, so the id breaks the tie.
      seed(sb, many(150, (i) => ({ at: now - DAY + Math.max(0, i - 20) * 1000, type: "invite.created", details: JSON.stringify({ n: i }) })));
      const r = await cli(["audit", "prune"], { config: sb.config });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("Pruned 30 expired events (older than 28d) and 50 over the max_rows quota of 100.\n");
      const left = rows(sb).map((x) => JSON.parse(x.details).n);
      expect(left).toEqual(Array.from({ length: 100 }, (_, i) => i + 50));
    } finally {
      sb.cleanup();
    }
  });

  test("over the whole-table quota, the oldest rows of all hosts go first, whatever order they were written in", async () => {
    const sb = sandbox(`${TWO_HOSTS}[audit]\nmax_rows = 100\n`);
    try {
      await migrate(sb);
      const now = Date.now();
      // Written host by host, newest host first, so time order and write (id) order disagree; times interleave.
      seed(sb, many(60, (i) => ({ at: now - DAY + i * 3 + 2, host: "" })));
      seed(sb, many(60, (i) => ({ at: now - DAY + i * 3 + 1, host: "other.org" })));
      seed(sb, many(60, (i) => ({ at: now - DAY + i * 3, host: "example.com" })));
      const r = await cli(["audit", "prune"], { config: sb.config });
      expect(r.stdout).toBe("Pruned 0 expired events (older than 28d) and 80 over the max_rows quota of 100.\n");
      const left = rows(sb).map((x) => x.at - (now - DAY)).sort((a, b) => a - b);
      expect(left).toEqual(Array.from({ length: 100 }, (_, i) => i + 80));
    } finally {
      sb.cleanup();
    }
  });

  test("prune HOST over the quota removes only that host's oldest rows", async () => {
    const sb = sandbox(`${TWO_HOSTS}[audit]\nmax_rows = 100\n`);
    try {
      await migrate(sb);
      const now = Date.now();
      seed(sb, many(80, (i) => ({ at: now - DAY + i * 2, host: "example.com" })));
      seed(sb, many(80, (i) => ({ at: now - DAY + i * 2 + 1, host: "other.org" })));
      const r = await cli(["audit", "prune", "other.org"], { config: sb.config });
      expect(r.stdout).toBe("Pruned 0 expired events of other.org (older than 28d) and 60 over the max_rows quota of 100.\n");
      expect(count(sb, "host = 'example.com'")).toBe(80);
      const other = rows(sb, "host = 'other.org'");
      expect(other).toHaveLength(20);
      expect(Math.min(...other.map((x) => x.at))).toBe(now - DAY + 60 * 2 + 1);
    } finally {
      sb.cleanup();
    }
  });

  test("pruneEvents works in batches no larger than batchSize and can be aborted between them", async () => {
    const sb = sandbox();
    try {
      await migrate(sb);
      const now = Date.now();
      seed(sb, many(1_000, (i) => ({ at: now - 40 * DAY + i })));
      seed(sb, many(10, (i) => ({ at: now - i })));
      const ctx = openContext(null, loadConfig(sb.config, {}));
      try {
        const r = await pruneEvents(ctx, { olderThan: now - 28 * DAY, batchSize: 100 });
        expect(r.expired).toBe(1_000);
        expect(r.batches).toBeGreaterThanOrEqual(10);
        expect(count(sb)).toBe(10);

        seed(sb, many(1_000, (i) => ({ at: now - 40 * DAY + i })));
        const controller = new AbortController();
        const run = pruneEvents(ctx, { olderThan: now - 28 * DAY, batchSize: 100, signal: controller.signal });
        controller.abort();
        const aborted = await run;
        expect(aborted.expired).toBeLessThanOrEqual(100);
        expect(count(sb)).toBe(1_010 - aborted.expired);

        const quota = await pruneEvents(ctx, { olderThan: 0, maxRows: 5, batchSize: 7 });
        expect(quota).toMatchObject({ expired: 0, overQuota: 1_005 - aborted.expired });
        expect(rows(sb).map((x) => x.at).sort((a, b) => a - b)).toEqual([now - 4, now - 3, now - 2, now - 1, now]);
        expect(pruneEvents(ctx, { olderThan: 0, batchSize: 0 })).rejects.toThrow("batchSize");
      } finally {
        ctx.db.close();
      }
    } finally {
      sb.cleanup();
    }
  });

  test("the server prunes shortly after start and then every prune_interval, while serving", async () => {
    const sb = sandbox('[audit]\nprune_interval = "1s"\nmax_rows = 500\n');
    try {
      await migrate(sb);
      const now = Date.now();
      seed(sb, many(3_000, (i) => ({ at: now - 40 * DAY + i, type: "key.auth_failed" })));
      seed(sb, many(5, (i) => ({ at: now - DAY + i, type: "invite.created" })));
      const server = await startServer(sb);
      try {
        await waitFor(() => count(sb, "at < ?", now - 28 * DAY) === 0, "the start-up prune");
        await waitFor(() => /audit: pruned 3000 expired and 0 over-quota events in \d+ ms/.test(server.output()), "the prune log line");
        expect(count(sb, "type = 'invite.created'")).toBe(5);
        expect((await get(`${server.url}/healthz`)).status).toBe(200);

        // Later: more expired rows, and a quota overshoot, both go at the next run without a restart.
        seed(sb, many(700, (i) => ({ at: now - 30 * DAY + i })));
        seed(sb, many(600, (i) => ({ at: now - 3_600_000 + i, type: "invite.used" })));
        await waitFor(() => count(sb, "at < ?", now - 28 * DAY) === 0 && count(sb) <= 500, "the interval prune");
        // The newest rows stay: server.started and all 600 invite.used rows fit in the quota only partly.
        expect(count(sb, "type = 'server.started'")).toBe(1);
        expect(count(sb, "type = 'invite.created'")).toBe(0); // older than every invite.used row
      } finally {
        expect(await server.stop()).toBe(0);
      }
      expect(server.output()).not.toContain("prune failed");
    } finally {
      sb.cleanup();
    }
  }, 60_000);

  test("a server stopped in the middle of a large prune shuts down cleanly", async () => {
    const sb = sandbox();
    try {
      await migrate(sb);
      const now = Date.now();
      seed(sb, many(150_000, (i) => ({ at: now - 40 * DAY + i })));
      const server = await startServer(sb);
      await waitFor(() => count(sb) < 150_000, "the prune to begin", 15_000);
      expect(await server.stop()).toBe(0);
      const left = count(sb, "at < ?", now - 28 * DAY);
      expect(left).toBeGreaterThan(0); // it really was interrupted
      expect(count(sb, "type = 'server.stopped'")).toBe(1);
      expect(server.output()).not.toMatch(/error/i);
      // The rest goes on demand.
      const r = await cli(["audit", "prune"], { config: sb.config });
      expect(r.stdout).toBe(`Pruned ${left} expired events (older than 28d).\n`);
    } finally {
      sb.cleanup();
    }
  }, 60_000);

  test("invited audit prune runs while the server is serving", async () => {
    const sb = sandbox();
    try {
      await migrate(sb);
      const server = await startServer(sb);
      try {
        const now = Date.now();
        seed(sb, many(20_000, (i) => ({ at: now - 40 * DAY + i })));
        const secret = await createKey(sb);
        const cliRun = cli(["audit", "prune"], { config: sb.config });
        for (let i = 0; i < 50; i++) {
          expect((await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${secret}` } })).status).toBe(201);
        }
        const r = await cliRun;
        expect(r.code).toBe(0);
        expect(r.stdout).toMatch(/^Pruned \d+ expired events \(older than 28d\)\.\n$/);
        expect(count(sb, "at < ?", now - 28 * DAY)).toBe(0);
        await waitFor(() => count(sb, "type = 'invite.created'") === 50, "all 50 invites");
      } finally {
        await server.stop();
      }
    } finally {
      sb.cleanup();
    }
  }, 60_000);

  test("bad prune invocations are refused", async () => {
    const sb = sandbox();
    try {
      await migrate(sb);
      for (const [args, message] of [
        [["audit", "prune", "nope.example"], "host 'nope.example' is not configured"],
        [["audit", "prune", "example.com", "extra"], "unexpected argument 'extra'"],
        [["audit", "prune", "--limit", "5"], "--limit does not apply to 'audit prune'"],
        [["audit", "prune", "--json"], "--json does not apply to 'audit prune'"],
      ] as const) {
        const r = await cli([...args], { config: sb.config });
        expect(r.code).toBe(1);
        expect(r.stderr).toStartWith(`Error: ${message}`);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
      }
    } finally {
      sb.cleanup();
    }
  });
});
