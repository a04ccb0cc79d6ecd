import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cli, createKey, get, sandbox, startServer } from "./helpers.ts";
import { mintLoad } from "./load.ts";

describe("invited serve", () => {
  test("refuses to start when the port is taken", async () => {
    const sb = sandbox();
    const first = await startServer(sb);
    try {
      const r = await cli(["serve"], { config: sb.config, env: { INVITED_LISTEN: `127.0.0.1:${first.port}` } });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/address already in use/);
      expect((await get(`${first.url}/healthz`)).status).toBe(200);
    } finally {
      await first.stop();
      sb.cleanup();
    }
  });

  test("logs one line per request with method, path, status and duration, and no key or token", async () => {
    const sb = sandbox();
    const server = await startServer(sb);
    try {
      const key = await createKey(sb);
      const r = await get(`${server.url}/invites_api?key=${encodeURIComponent(key)}&redirect=0`);
      const token = r.headers.get("location")!.split("?")[1]!;
      await get(`${server.url}/invite?${token}`);
      await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } });
      await get(`${server.url}/no/such/path`);
      await Bun.sleep(100);
      const out = server.output();
      expect(out).toMatch(/ GET \/invites_api\?key=\[redacted\]&redirect=0 201 \d+(\.\d+)?ms\n/);
      expect(out).toMatch(/ GET \/invite\?\[redacted\] 200 \d+(\.\d+)?ms\n/);
      expect(out).toMatch(/ GET \/no\/such\/path 404 /);
      expect(out).not.toContain(key.split("/")[1]!);
      expect(out).not.toContain(encodeURIComponent(key));
      expect(out).not.toContain(token);
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });

  test("the request log shows client addresses only as the audit log would keep them", async () => {
    for (const [audit, shown] of [
      ["ipv4_prefix = 24", "81.2.69.0/24"],
      ["ips = false", "-"],
    ] as const) {
      const sb = sandbox(`[audit]\n${audit}\n`);
      const server = await startServer(sb);
      try {
        await get(`${server.url}/healthz`, { headers: { "X-Forwarded-For": "81.2.69.142" } });
        await Bun.sleep(100);
        expect(server.output()).toContain(` ${shown} GET /healthz 200 `);
        expect(server.output()).not.toContain("81.2.69.142");
      } finally {
        await server.stop();
        sb.cleanup();
      }
    }
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal} lets requests in flight finish, closes the database and exits 0`, async () => {
      const sb = sandbox();
      const server = await startServer(sb);
      const key = await createKey(sb);
      const inflight = Array.from({ length: 50 }, () => get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } }).then((r) => r.status, () => 0));
      await Bun.sleep(5);
      const code = await server.stop(signal);
      const statuses = await Promise.all(inflight);
      expect(code).toBe(0);
      const created = statuses.filter((s) => s === 201).length;
      expect(statuses.every((s) => s === 201 || s === 0)).toBe(true);
      // Closed cleanly: the WAL was checkpointed and removed, and every 201 has its invite.
      expect(await Bun.file(`${sb.db}-wal`).exists()).toBe(false);
      const db = new Database(sb.db, { readonly: true });
      const n = (db.query("SELECT count(*) AS n FROM invites").get() as { n: number }).n;
      const stopped = db.query("SELECT count(*) AS n FROM audit_events WHERE type = 'server.stopped'").get() as { n: number };
      db.close();
      expect(n).toBeGreaterThanOrEqual(created);
      expect(stopped.n).toBe(1);
      sb.cleanup();
    });
  }

  test("GET /healthz answers 200 when the database is reachable", async () => {
    const sb = sandbox();
    const server = await startServer(sb);
    try {
      const r = await get(`${server.url}/healthz`);
      expect(r.status).toBe(200);
      expect(r.headers.get("cache-control")).toBe("no-store");
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });

  test("CLI and server share the database while the server writes", async () => {
    const sb = sandbox();
    const server = await startServer(sb);
    try {
      const key = await createKey(sb);
      const load = mintLoad(server.url, key, 16);
      const keys: string[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await cli(["key", "create", "example.com", `k${i}`], { config: sb.config });
        expect(r.code).toBe(0);
        keys.push(r.stdout.trim());
        expect((await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${r.stdout.trim()}` } })).status).toBe(201);
      }
      await load.stop();
      expect(load.tokens.length).toBeGreaterThan(0);
      expect(load.statuses.filter((s) => s !== 201)).toEqual([]);
      const list = await cli(["key", "list", "example.com"], { config: sb.config });
      expect(list.stdout.trim().split("\n").length).toBe(11);
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });
});
