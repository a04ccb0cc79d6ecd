// GET /metrics and the registry behind it.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cli, createKey, get, sandbox, startServer, withServer } from "./helpers.ts";
import { Registry } from "../src/metrics/registry.ts";

/** Parses Prometheus text into { 'name{labels}': value }. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function scrape(url: string, headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const r = await get(`${url}/metrics`, { headers });
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parse(await r.text());
}

describe("GET /metrics", () => {
  test("counts requests by route pattern and status, with latency, invites, auth failures and audit rows", () =>
    withServer("", async (server, sb) => {
      const key = await createKey(sb);
      const auth = { Authorization: `Bearer ${key}` };
      for (let i = 0; i < 3; i++) expect((await get(`${server.url}/invites_api`, { headers: auth })).status).toBe(201);
      expect((await get(`${server.url}/invites_api`, { method: "POST", headers: auth })).status).toBe(201);
      expect((await get(`${server.url}/invites_api`, { headers: { Authorization: "Bearer nope" } })).status).toBe(403);
      // Twenty different unknown paths and tokens must not make twenty series.
      for (let i = 0; i < 20; i++) {
        expect((await get(`${server.url}/random/${crypto.randomUUID()}`)).status).toBe(404);
        expect((await get(`${server.url}/invite?${crypto.randomUUID()}`)).status).toBe(404);
      }
      await Bun.sleep(50); // the auth-failure audit row is written after the 403 is sent

      const m = await scrape(server.url);
      expect(m.get('invited_http_requests_total{route="/invites_api",method="GET",status="201"}')).toBe(3);
      expect(m.get('invited_http_requests_total{route="/invites_api",method="POST",status="201"}')).toBe(1);
      expect(m.get('invited_http_requests_total{route="/invites_api",method="GET",status="403"}')).toBe(1);
      expect(m.get('invited_http_requests_total{route="unmatched",method="GET",status="404"}')).toBe(20);
      expect(m.get('invited_http_requests_total{route="/invite",method="GET",status="404"}')).toBe(20);
      expect([...m.keys()].some((k) => k.includes("random"))).toBe(false);
      expect(m.get('invited_http_request_duration_seconds_count{route="/invites_api"}')).toBe(5);
      expect(m.get('invited_http_request_duration_seconds_bucket{route="/invites_api",le="+Inf"}')).toBe(5);
      expect(m.get('invited_http_request_duration_seconds_bucket{route="/invites_api",le="10"}')).toBe(5);
      expect(m.get('invited_http_request_duration_seconds_sum{route="/invites_api"}')).toBeGreaterThan(0);
      expect(m.get('invited_invites_created_total{host="example.com"}')).toBe(4);
      expect(m.get('invited_invites_redeemed_total{host="example.com"}')).toBe(0);
      expect(m.get('invited_auth_failures_total{kind="api_key"}')).toBe(1);
      expect(m.get("invited_lockouts_total")).toBe(0);
      expect(m.get("invited_locked_out_requests_total")).toBe(0);
      expect(m.get("invited_untrusted_forwarded_requests_total")).toBe(0);
      expect(m.get("invited_invalid_forwarded_requests_total")).toBe(0);
      expect(m.get("invited_db_busy_total")).toBe(0);
      expect(m.get('invited_db_write_failures_total{reason="readonly"}')).toBe(0);
      expect(m.get("invited_db_commits_total")).toBeGreaterThan(0);
      expect(m.get("process_resident_memory_bytes")).toBeGreaterThan(1_000_000);
      expect(m.get("invited_http_requests_in_flight")).toBe(1); // this scrape

      const db = new Database(sb.db, { readonly: true });
      const rows = (db.query("SELECT count(*) AS n FROM audit_events").get() as { n: number }).n;
      db.close();
      expect(m.get("invited_audit_rows")).toBe(rows);

      // The scrape itself is counted too, on the next scrape.
      const again = await scrape(server.url);
      expect(again.get('invited_http_requests_total{route="/metrics",method="GET",status="200"}')).toBe(1);
    }));

  test("counts invite redemptions (web registration)", () =>
    withServer("", async (server, sb) => {
      const created = await cli(["invite", "create", "example.com", "--uses", "2"], { config: sb.config });
      expect(created.code).toBe(0);
      const token = new URL(created.stdout.trim()).search.slice(1);
      for (const user of ["alice", "bob"]) {
        const r = await get(`${server.url}/register?t=${token}`, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ user, password: "correct horse battery", token }).toString(),
        });
        expect(r.status).toBe(200);
      }
      const m = await scrape(server.url);
      expect(m.get('invited_invites_redeemed_total{host="example.com"}')).toBe(2);
      expect(m.get('invited_http_requests_total{route="/register",method="POST",status="200"}')).toBe(2);
    }));

  test("counts lockouts after repeated key failures", () =>
    withServer("[limits]\nauth_failures = 3\n", async (server) => {
      for (let i = 0; i < 3; i++) expect((await get(`${server.url}/invites_api`, { headers: { Authorization: "Bearer AAAAAAAAAAAA/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB" } })).status).toBe(403);
      expect((await get(`${server.url}/invites_api`, { headers: { Authorization: "Bearer x" } })).status).toBe(429);
      const m = await scrape(server.url);
      expect(m.get("invited_lockouts_total")).toBe(1);
      expect(m.get('invited_auth_failures_total{kind="api_key"}')).toBe(3); // the refusal during the lockout is not a further failure
      expect(m.get("invited_locked_out_requests_total")).toBe(1);
    }));

  test("is a 404 for addresses outside metrics_allow, judged after X-Forwarded-For from a trusted proxy", () =>
    // Loopback is a trusted proxy by default, so the forwarded address is the client that is judged.
    withServer("", async (server) => {
      const denied = await get(`${server.url}/metrics`, { headers: { "X-Forwarded-For": "8.8.8.8" } });
      expect(denied.status).toBe(404);
      expect(await denied.text()).toBe("not found\n");
      expect((await get(`${server.url}/metrics`)).status).toBe(200);
    }));

  test("allow-list entries may be CIDR ranges; loopback is refused when it is not listed", async () => {
    const sb = sandbox();
    const toml = (await Bun.file(sb.config).text()).replace("[server]\n", '[server]\nmetrics_allow = ["192.0.2.0/24"]\n');
    await Bun.write(sb.config, toml);
    const server = await startServer(sb);
    try {
      expect((await get(`${server.url}/metrics`)).status).toBe(404);
      expect((await get(`${server.url}/metrics`, { headers: { "X-Forwarded-For": "198.51.100.7" } })).status).toBe(404);
      const ok = await get(`${server.url}/metrics`, { headers: { "X-Forwarded-For": "192.0.2.77" } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain("# TYPE invited_http_requests_total counter\n");
      // Another method on /metrics is just an unknown route.
      expect((await get(`${server.url}/metrics`, { method: "POST", headers: { "X-Forwarded-For": "192.0.2.77" } })).status).toBe(404);
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });
});

describe("background WAL checkpoints", () => {
  test("copy committed writes into the database file off the request thread, long before the WAL reaches its autocheckpoint size", () =>
    withServer("", async (server, sb) => {
      const key = await createKey(sb);
      const before = await scrape(server.url);
      expect(before.get('invited_db_checkpoints_total{result="error"}')).toBe(0);
      await Promise.all(Array.from({ length: 20 }, () => get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } })));
      // A few dozen WAL frames: far below the ~4000 at which the committing connection would checkpoint by itself.
      let m = before;
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        m = await scrape(server.url);
        const frames = m.get("invited_db_wal_frames") ?? 0;
        if ((m.get('invited_db_checkpoints_total{result="done"}') ?? 0) > 0 && frames > 0 && m.get("invited_db_wal_frames_checkpointed") === frames) break;
        await Bun.sleep(50);
      }
      const frames = m.get("invited_db_wal_frames")!;
      expect(m.get('invited_db_checkpoints_total{result="done"}')).toBeGreaterThan(0);
      expect(frames).toBeGreaterThan(0);
      expect(frames).toBeLessThan(1000);
      expect(m.get("invited_db_wal_frames_checkpointed")).toBe(frames);
      expect(m.get('invited_db_checkpoints_total{result="error"}')).toBe(0);
    }));
});

describe("metrics registry", () => {
  test("renders counters, gauges and cumulative histogram buckets in Prometheus text format", () => {
    const r = new Registry();
    const c = r.counter("t_requests_total", "Requests", ["route", "status"]);
    const g = r.gauge("t_temperature", "Temp");
    const h = r.histogram("t_latency_seconds", "Latency", ["route"], [0.1, 1]);
    c.inc({ route: "/a", status: "200" });
    c.inc({ route: "/a", status: "200" }, 2);
    c.inc({ route: 'we"ird\\\n', status: "500" });
    c.inc({ route: "/a", status: "200" }, -5); // ignored: counters never go down
    g.set(21.5);
    h.observe(0.05, { route: "/a" });
    h.observe(0.5, { route: "/a" });
    h.observe(7, { route: "/a" });
    expect(r.render()).toBe(
      [
        "# HELP t_requests_total Requests",
        "# TYPE t_requests_total counter",
        't_requests_total{route="/a",status="200"} 3',
        't_requests_total{route="we\\"ird\\\\\\n",status="500"} 1',
        "# HELP t_temperature Temp",
        "# TYPE t_temperature gauge",
        "t_temperature 21.5",
        "# HELP t_latency_seconds Latency",
        "# TYPE t_latency_seconds histogram",
        't_latency_seconds_bucket{route="/a",le="0.1"} 1',
        't_latency_seconds_bucket{route="/a",le="1"} 2',
        't_latency_seconds_bucket{route="/a",le="+Inf"} 3',
        't_latency_seconds_sum{route="/a"} 7.55',
        't_latency_seconds_count{route="/a"} 3',
        "",
      ].join("\n"),
    );
  });

  test("caps the number of series per metric and drops a gauge whose source fails", () => {
    const r = new Registry();
    const c = r.counter("t_total", "x", ["id"]);
    for (let i = 0; i < 5000; i++) c.inc({ id: String(i) });
    const lines = r.render().split("\n").filter((l) => l.startsWith("t_total"));
    expect(lines.length).toBe(1001);
    expect(lines).toContain('t_total{id="other"} 4000');

    const g = r.gauge("t_rows", "rows");
    g.collectWith(() => {
      throw new Error("database gone");
    });
    expect(r.render()).toContain("# TYPE t_rows gauge\n");
    expect(r.render()).not.toMatch(/^t_rows /m);
    expect(() => r.counter("t_total", "again")).toThrow("registered twice");
  });
});
