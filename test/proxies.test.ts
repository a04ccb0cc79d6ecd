// X-Forwarded-For behind proxies: malformed entries from a trusted proxy are refused (400), never taken as the
// proxy's own address; an untrusted peer's header is ignored, counted, logged and audited once per hour per peer;
// `Forwarded` is not read; `invited check` reports untrusted peers.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cli, createKey, get, rawRequest, sandbox, startServer, withServer, writeConfig, type Sandbox, type TestServer } from "./helpers.ts";
import { failedAuthProbe, rows, waitFor } from "./audit-support.ts";
import { AddressMatcher, parseBareIp, resolveClientIp } from "../src/lib/ip.ts";
import { openContext } from "../src/bootstrap.ts";
import { ForwardedNotices } from "../src/http/forwarded.ts";

// Entries that are not a bare IP address. Each is placed where the walk from the right reaches it (right-most, or
// right of trusted hops only), so each must give 400.
const MALFORMED: string[] = [
  "1.2.3.4:5555",
  "unknown",
  "[::1]:443",
  "[2001:db8::1]",
  "[::1]",
  "8.8.8.8,", // an empty entry on the right
  "8.8.8.8, , 127.0.0.1", // an empty entry between commas, behind a trusted hop
  "8.8.8.8,,127.0.0.1",
  "8.8.8.8, unknown, ::1",
  ",",
  "127.1", // shorthand forms that would parse as 127.0.0.1
  "0x7f.0.0.1",
  "2130706433",
  "0177.0.0.1",
  "01.2.3.4",
  "1.2.3",
  "256.1.1.1",
  "fe80::1%eth0",
  "::ffff:1.2.3",
  "1.2.3.4 5.6.7.8",
  "1.2.3.4;5.6.7.8",
  "for=8.8.8.8",
  "garbage",
  "\u00a08.8.8.8", // a no-break space is not the optional whitespace HTTP allows
  "x".repeat(3000),
  `${"9".repeat(46)}`,
];

const metricsText = async (url: string) => (await get(`${url}/metrics`)).text();
const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);

function inviteCount(sb: Sandbox): number {
  const d = new Database(sb.db, { readonly: true });
  try {
    return (d.query("SELECT count(*) AS n FROM invites").get() as { n: number }).n;
  } finally {
    d.close();
  }
}

/** A config whose trusted proxy is not the test client's 127.0.0.1, so the test client is an untrusted peer. */
function untrustedSandbox(extra = ""): Sandbox {
  const sb = sandbox();
  writeConfig(sb, `[server]\nlisten = "127.0.0.1:0"\ntrusted_proxies = ["10.0.0.1"]\n${extra}\n[database]\npath = ${JSON.stringify(sb.db)}\n\n[hosts."example.com"]\n`);
  return sb;
}

describe("X-Forwarded-For from a trusted proxy", () => {
  test("every malformed entry the walk reaches gives 400 on every route, in the route's own error shape; nothing is done", async () => {
    await withServer("", async (s: TestServer, sb) => {
      const key = await createKey(sb);
      for (const xff of MALFORMED) {
        const label = JSON.stringify(xff.slice(0, 40));
        const headers = { "X-Forwarded-For": xff };
        // /metrics: never opened by a malformed header (the peer, 127.0.0.1, would be allowed).
        const m = await get(`${s.url}/metrics`, { headers });
        expect(`${label} /metrics -> ${m.status}`).toBe(`${label} /metrics -> 400`);
        expect(await m.text()).toBe("bad request: X-Forwarded-For from a trusted proxy has an entry that is not a bare IP address\n");
        // /invites_api with a valid key: 400 with the CORS headers of that path, and no invite.
        const minted = await get(`${s.url}/invites_api`, { headers: { ...headers, Authorization: `Bearer ${key}` } });
        expect(`${label} /invites_api -> ${minted.status}`).toBe(`${label} /invites_api -> 400`);
        expect(minted.headers.get("access-control-allow-origin")).toBe("*");
        expect(minted.headers.get("location")).toBeNull();
        // /api/v1: the API's JSON error.
        const api = await get(`${s.url}/api/v1/invites`, { method: "POST", headers: { ...headers, Authorization: `Bearer ${key}`, "Content-Type": "application/json" }, body: "{}" });
        expect(`${label} /api/v1 -> ${api.status}`).toBe(`${label} /api/v1 -> 400`);
        expect(api.headers.get("content-type")).toMatch(/^application\/json/);
        expect(await api.json()).toEqual({ error: { code: "invalid_request", message: "X-Forwarded-For from a trusted proxy has an entry that is not a bare IP address" } });
      }
      for (const path of ["/healthz", "/", "/register", "/invite?AAAA", "/no-such-page"]) {
        expect(`${path} -> ${(await get(`${s.url}${path}`, { headers: { "X-Forwarded-For": "unknown" } })).status}`).toBe(`${path} -> 400`);
      }
      // A present but empty header is malformed too (it names no client); raw, because fetch may drop it.
      const empty = await rawRequest(s.port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: \r\nConnection: close\r\n\r\n");
      expect(empty).toMatch(/^HTTP\/1\.1 400 /);
      const tab = await rawRequest(s.port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 8.8.8.8,\t,127.0.0.1\r\nConnection: close\r\n\r\n");
      expect(tab).toMatch(/^HTTP\/1\.1 400 /);

      expect(inviteCount(sb)).toBe(0);
      // Nothing was audited for the refused requests, and no failed key check was counted against the proxy.
      expect(rows(sb, "type <> 'server.started' AND type <> 'key.created'")).toEqual([]);
      const text = await metricsText(s.url);
      expect(metric(text, "invited_invalid_forwarded_requests_total")).toBe(MALFORMED.length * 3 + 5 + 2);
      // The proxy's operator is told once (per proxy per hour), by the shape of the entry, not its text.
      await Bun.sleep(50);
      expect(s.output().match(/X-Forwarded-For from trusted proxy 127\.0\.0\.1 holds/g)).toHaveLength(1);
      expect(s.output()).toContain("holds an address with a port, not a bare IP address: answering 400");
      expect(s.output()).not.toContain("1.2.3.4:5555");
    });
  });

  test("entries left of the first untrusted hop are not read; spaces and tabs around entries are fine", async () => {
    await withServer("", async (s, sb) => {
      expect((await failedAuthProbe(s, sb, "unknown, 8.8.8.8")).ip).toBe("8.8.8.8");
      expect((await failedAuthProbe(s, sb, "1.2.3.4:5555, ,, garbage, 81.2.69.142, 127.0.0.1")).ip).toBe("81.2.69.142");
      expect((await failedAuthProbe(s, sb, "[::1]:443,2001:db8::7")).ip).toBe("2001:db8::7");
      expect((await failedAuthProbe(s, sb, "  8.8.8.8 ,\t127.0.0.1  ")).ip).toBe("8.8.8.8");
      expect((await failedAuthProbe(s, sb, "::FFFF:81.2.69.142")).ip).toBe("81.2.69.142");
      // Every hop trusted: the left-most one is the client.
      expect((await failedAuthProbe(s, sb, "::1, 127.0.0.1")).ip).toBe("::1");
    });
  });

  test("/metrics stays closed to a forged client; `Forwarded` is not read", async () => {
    await withServer("", async (s, sb) => {
      // Loopback may read /metrics. A forged address, a forged chain, a trusted hop at the end: judged on the client.
      for (const xff of ["8.8.8.8", "127.0.0.1, 8.8.8.8", "8.8.8.8, 127.0.0.1", "8.8.8.8, ::1, 127.0.0.1"]) {
        expect(`${xff} -> ${(await get(`${s.url}/metrics`, { headers: { "X-Forwarded-For": xff } })).status}`).toBe(`${xff} -> 404`);
      }
      for (const xff of ["127.0.0.1:5555", "unknown", "[::1]:443", "127.1", "8.8.8.8, , 127.0.0.1"]) {
        expect(`${xff} -> ${(await get(`${s.url}/metrics`, { headers: { "X-Forwarded-For": xff } })).status}`).toBe(`${xff} -> 400`);
      }
      // RFC 7239 Forwarded is ignored: it neither moves the client away from the peer nor adds to X-Forwarded-For.
      expect((await get(`${s.url}/metrics`, { headers: { Forwarded: "for=8.8.8.8" } })).status).toBe(200);
      const probe = await failedAuthProbeWith(s, sb, { Forwarded: 'for="[2001:db8::1]:443";proto=https, for=8.8.8.8' });
      expect(probe).toBe("127.0.0.1");
      expect(await failedAuthProbeWith(s, sb, { Forwarded: "for=8.8.8.8", "X-Forwarded-For": "81.2.69.142" })).toBe("81.2.69.142");
    });
    // Nor can Forwarded open /metrics to a client outside metrics_allow.
    const sb = sandbox();
    await Bun.write(sb.config, (await Bun.file(sb.config).text()).replace("[server]\n", '[server]\nmetrics_allow = ["192.0.2.0/24"]\n'));
    const s = await startServer(sb);
    try {
      expect((await get(`${s.url}/metrics`, { headers: { Forwarded: "for=192.0.2.7" } })).status).toBe(404);
      expect((await get(`${s.url}/metrics`, { headers: { "X-Forwarded-For": "192.0.2.7:80" } })).status).toBe(400);
      expect((await get(`${s.url}/metrics`, { headers: { "X-Forwarded-For": "192.0.2.7" } })).status).toBe(200);
    } finally {
      await s.stop();
      sb.cleanup();
    }
  });
});

let probeSeq = 0;
/** A refused key with extra headers; returns the client address its audit row stored. */
async function failedAuthProbeWith(s: TestServer, sb: Sandbox, headers: Record<string, string>): Promise<string | null> {
  const tag = `fwd-probe-${++probeSeq}`;
  const r = await get(`${s.url}/invites_api`, { headers: { ...headers, "User-Agent": tag, Authorization: `Bearer Fwdprobe${String(probeSeq).padStart(4, "0")}/${"A".repeat(43)}` } });
  expect(r.status).toBe(403);
  const [row] = await waitFor(() => {
    const found = rows(sb, "user_agent = ?", tag);
    return found.length ? found : null;
  }, tag);
  return row!.ip;
}

describe("X-Forwarded-For from a peer that is not a trusted proxy", () => {
  test("is ignored (the client is the peer), counted on every request, and warned and audited once per hour per peer", async () => {
    const sb = untrustedSandbox();
    const s = await startServer(sb);
    try {
      // Two requests with the header: the client stays the peer, even with a malformed header (it is not read).
      expect(await failedAuthProbeWith(s, sb, { "X-Forwarded-For": "8.8.8.8" })).toBe("127.0.0.1");
      expect(await failedAuthProbeWith(s, sb, { "X-Forwarded-For": "unknown, 1.2.3.4:5555" })).toBe("127.0.0.1");
      // Without the header nothing is counted.
      expect((await get(`${s.url}/healthz`)).status).toBe(200);

      const events = await waitFor(() => {
        const r = rows(sb, "type = 'proxy.untrusted'");
        return r.length ? r : null;
      }, "proxy.untrusted");
      await Bun.sleep(100);
      expect(rows(sb, "type = 'proxy.untrusted'")).toHaveLength(1);
      const ev = events[0]!;
      expect(ev.ip).toBe("127.0.0.1");
      expect(ev.host).toBe("");
      expect(ev.source).toBe("system");
      expect(ev.user_agent).toStartWith("fwd-probe-");
      expect(JSON.parse(ev.details)).toEqual({ setting: "server.trusted_proxies", header: "X-Forwarded-For" });

      const text = await metricsText(s.url); // sent without the header: not counted itself
      expect(metric(text, "invited_untrusted_forwarded_requests_total")).toBe(2);
      expect(metric(text, "invited_invalid_forwarded_requests_total")).toBe(0);
      const warnings = s.output().match(/warn: X-Forwarded-For from 127\.0\.0\.1, which is not in \[server\] trusted_proxies/g);
      expect(warnings).toHaveLength(1);

      // More requests in the same hour: counted, not logged or audited again.
      for (let i = 0; i < 20; i++) expect((await get(`${s.url}/healthz`, { headers: { "X-Forwarded-For": `198.51.100.${i}` } })).status).toBe(200);
      expect(metric(await metricsText(s.url), "invited_untrusted_forwarded_requests_total")).toBe(22);
      await Bun.sleep(100);
      expect(rows(sb, "type = 'proxy.untrusted'")).toHaveLength(1);
      expect(s.output().match(/which is not in \[server\] trusted_proxies/g)).toHaveLength(1);

      // /metrics stays closed to a forged client here too: the header does not move the client off the peer.
      const sb2 = untrustedSandbox('metrics_allow = ["192.0.2.0/24"]');
      const s2 = await startServer(sb2);
      try {
        expect((await get(`${s2.url}/metrics`, { headers: { "X-Forwarded-For": "192.0.2.7" } })).status).toBe(404);
      } finally {
        await s2.stop();
        sb2.cleanup();
      }

      // `invited check` (read-only, next to the running server) reports the peer as a warning.
      const check = await cli(["check"], { config: sb.config });
      expect(check.code).toBe(0); // a warning, not a failure
      expect(check.stdout).toMatch(/^proxies\s+warn\s+X-Forwarded-For was ignored from peers not in \[server\] trusted_proxies in the last 7 days: 127\.0\.0\.1 \(last \d{4}-\d\d-\d\d \d\d:\d\d UTC\)\. If one is your reverse proxy, add it to trusted_proxies/m);
      const json = JSON.parse((await cli(["check", "--json"], { config: sb.config })).stdout);
      expect(json.checks.find((c: { name: string }) => c.name === "proxies").status).toBe("warn");
    } finally {
      await s.stop();
      sb.cleanup();
    }
  });

  test("the warning and event follow [audit]: no full address where the audit log keeps none", async () => {
    const sb = untrustedSandbox();
    await Bun.write(sb.config, (await Bun.file(sb.config).text()) + "\n[audit]\nips = false\n");
    const s = await startServer(sb);
    try {
      expect((await get(`${s.url}/healthz`, { headers: { "X-Forwarded-For": "8.8.8.8" } })).status).toBe(200);
      const [ev] = await waitFor(() => {
        const r = rows(sb, "type = 'proxy.untrusted'");
        return r.length ? r : null;
      }, "proxy.untrusted");
      expect(ev!.ip).toBeNull();
      expect(ev!.details).not.toContain("127.0.0.1");
      await Bun.sleep(50);
      expect(s.output()).toContain("warn: X-Forwarded-For from a peer (address not logged: [audit] ips = false), which is not in [server] trusted_proxies");
      expect(s.output().split("\n").filter((l) => l.includes("warn:") && l.includes("127.0.0.1"))).toEqual([]);
      const check = await cli(["check"], { config: sb.config });
      expect(check.stdout).toMatch(/^proxies\s+warn\s+.*: \(address not stored\) \(last /m);
    } finally {
      await s.stop();
      sb.cleanup();
    }
  });

  test("old proxy.untrusted events (over 7 days) are not reported by `invited check`", async () => {
    const sb = untrustedSandbox();
    try {
      await createKey(sb); // creates and migrates the database
      const d = new Database(sb.db);
      d.query("INSERT INTO audit_events (at, host, user, source, type, ip, details) VALUES (?, '', '', 'system', 'proxy.untrusted', '203.0.113.1', '{}')").run(Date.now() - 8 * 86_400_000);
      d.query("INSERT INTO audit_events (at, host, user, source, type, ip, details) VALUES (?, '', '', 'system', 'proxy.untrusted', '203.0.113.2', '{}')").run(Date.now() - 6 * 86_400_000);
      d.close();
      const check = await cli(["check"], { config: sb.config });
      expect(check.stdout).toMatch(/^proxies\s+warn\s+.*: 203\.0\.113\.2 \(last /m);
      expect(check.stdout).not.toContain("203.0.113.1");
    } finally {
      sb.cleanup();
    }
  });
});

describe("resolveClientIp and parseBareIp (the parsing itself)", () => {
  const trusted = new AddressMatcher(["127.0.0.1", "::1", "10.0.0.0/8"]);

  test("bare addresses only", () => {
    for (const ok of ["1.2.3.4", "0.0.0.0", "255.255.255.255", "::1", "2001:DB8::1", "::ffff:1.2.3.4", "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"]) expect(parseBareIp(ok)).not.toBeNull();
    for (const bad of MALFORMED.filter((m) => !m.includes(",")).concat(["", " 1.2.3.4", "1.2.3.4 ", "[::1]", "::1%1"])) expect(`${JSON.stringify(bad)}: ${parseBareIp(bad)}`).toBe(`${JSON.stringify(bad)}: null`);
    expect(parseBareIp("::ffff:1.2.3.4")!.toString()).toBe("1.2.3.4");
  });

  test("walks from the right through trusted hops; stops at the first untrusted one; a malformed entry on the walk is invalid", () => {
    expect(resolveClientIp("127.0.0.1", null, trusted)).toEqual({ ip: "127.0.0.1", untrusted: false, invalid: null });
    expect(resolveClientIp("127.0.0.1", "8.8.8.8", trusted)).toEqual({ ip: "8.8.8.8", untrusted: false, invalid: null });
    expect(resolveClientIp("127.0.0.1", "junk, 8.8.8.8, 10.1.1.1", trusted)).toEqual({ ip: "8.8.8.8", untrusted: false, invalid: null });
    expect(resolveClientIp("127.0.0.1", "8.8.8.8, junk, 10.1.1.1", trusted)).toEqual({ ip: null, untrusted: false, invalid: "junk" });
    expect(resolveClientIp("127.0.0.1", "", trusted)).toEqual({ ip: null, untrusted: false, invalid: "" });
    expect(resolveClientIp("127.0.0.1", ",127.0.0.1", trusted)).toEqual({ ip: null, untrusted: false, invalid: "" });
    expect(resolveClientIp("127.0.0.1", "127.0.0.1", trusted)).toEqual({ ip: "127.0.0.1", untrusted: false, invalid: null });
    expect(resolveClientIp("::ffff:127.0.0.1", "2001:db8::5", trusted)).toEqual({ ip: "2001:db8::5", untrusted: false, invalid: null });
    expect(resolveClientIp("192.0.2.1", "8.8.8.8", trusted)).toEqual({ ip: "192.0.2.1", untrusted: true, invalid: null });
    expect(resolveClientIp("192.0.2.1", "junk", trusted)).toEqual({ ip: "192.0.2.1", untrusted: true, invalid: null });
    expect(resolveClientIp("192.0.2.1", null, trusted)).toEqual({ ip: "192.0.2.1", untrusted: false, invalid: null });
    expect(resolveClientIp(null, "8.8.8.8", trusted)).toEqual({ ip: null, untrusted: false, invalid: null });
    // A long chain of trusted hops is walked to its end (bounded by the 16 KiB head).
    expect(resolveClientIp("127.0.0.1", Array(1500).fill("10.0.0.1").join(","), trusted).ip).toBe("10.0.0.1");
  });
});

describe("ForwardedNotices (the per-peer memory itself)", () => {
  async function withNotices(fn: (ctx: ReturnType<typeof openContext>, lines: string[], sb: Sandbox) => Promise<void>): Promise<void> {
    const sb = sandbox();
    const base = openContext(sb.config);
    const lines: string[] = [];
    const ctx = { ...base, log: { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) } };
    try {
      await fn(ctx, lines, sb);
    } finally {
      base.db.close();
      sb.cleanup();
    }
  }
  /** The proxy.untrusted rows once `n` exist (the batcher writes them a moment later), after a pause for any extra. */
  async function notices(sb: Sandbox, n: number) {
    await waitFor(() => rows(sb, "type = 'proxy.untrusted'").length >= n, `${n} proxy.untrusted rows`);
    await Bun.sleep(100);
    return rows(sb, "type = 'proxy.untrusted'");
  }

  test("once per peer per hour; an IPv6 /64 is one peer; a new hour notices again", () =>
    withNotices(async (ctx, lines, sb) => {
      const n = new ForwardedNotices(ctx);
      const t0 = 10_000_000;
      for (let i = 0; i < 5; i++) n.untrusted("192.0.2.1", null, t0 + i);
      for (let i = 1; i < 6; i++) n.untrusted(`2001:db8:0:1::${i}`, null, t0 + i);
      n.untrusted("192.0.2.1", null, t0 + 3_599_999);
      expect((await notices(sb, 2)).map((r) => r.ip)).toEqual(["192.0.2.1", "2001:db8:0:1::1"]);
      n.untrusted("192.0.2.1", null, t0 + 3_600_000);
      expect(await notices(sb, 3)).toHaveLength(3);
      expect(lines.filter((l) => l.includes("not in [server] trusted_proxies"))).toHaveLength(3);
    }));

  test("a spray of peers costs at most 100 notices an hour, then one line saying the rest are only counted", () =>
    withNotices(async (ctx, lines, sb) => {
      const n = new ForwardedNotices(ctx);
      const t0 = 20_000_000;
      for (let i = 0; i < 1000; i++) n.untrusted(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, null, t0 + i);
      expect(await notices(sb, 100)).toHaveLength(100);
      expect(lines.filter((l) => l.includes("not in [server] trusted_proxies"))).toHaveLength(100);
      expect(lines.filter((l) => l.startsWith("more than 100 peers"))).toHaveLength(1);
      // The next hour, peers are noticed again.
      n.untrusted("10.9.9.9", null, t0 + 3_600_000);
      expect(await notices(sb, 101)).toHaveLength(101);
    }));

  test("the memory is bounded: past maxPeers the oldest peer is forgotten (and may be noticed again)", () =>
    withNotices(async (ctx, _lines, sb) => {
      const n = new ForwardedNotices(ctx, { maxPeers: 5, maxPerWindow: 1000 });
      const t0 = 30_000_000;
      for (let i = 0; i < 6; i++) n.untrusted(`198.51.100.${i}`, null, t0 + i); // .0 is evicted by .5
      n.untrusted("198.51.100.5", null, t0 + 10); // still remembered
      n.untrusted("198.51.100.0", null, t0 + 11); // forgotten: noticed again
      expect((await notices(sb, 7)).map((r) => r.ip)).toEqual([0, 1, 2, 3, 4, 5, 0].map((i) => `198.51.100.${i}`));
    }));
});
