// Fuzz: at least 10,000 generated requests (fast-check) across every route in test/fuzz-routes.ts, with random
// methods, paths, headers, query strings and bodies up to 1 MB, bad UTF-8, huge headers and bad percent-encoding.
// Well-formed requests go through fetch() on keep-alive connections; malformed ones fetch() cannot build go over
// raw TCP. There must be no 5xx at all, no crash, and the server must answer normally afterwards.
// Reproduce a failure with INVITED_FUZZ_SEED=<seed printed on failure>.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { cli, createKey, get, sandbox, startServer, type TestServer } from "./helpers.ts";
import { FUZZ_ROUTES, type FuzzRoute } from "./fuzz-routes.ts";

const FETCH_REQUESTS = 8000;
const RAW_REQUESTS = 2500;
const CONCURRENCY = 32;

interface FetchCase {
  kind: "fetch";
  method: string;
  target: string; // path + query, already URL-safe enough for fetch (fetch normalises the rest)
  headers: [string, string][];
  body: Uint8Array | string | null;
}
interface RawCase {
  kind: "raw";
  bytes: Uint8Array;
}
type Case = FetchCase | RawCase;

const enc = new TextEncoder();
const printable = (max: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max });
const anyText = (max: number) => fc.string({ unit: "binary", maxLength: max });
const badPercent = fc.constantFrom("%", "%z", "%zz", "%4", "%00", "%ff", "%FF%FE", "%e2%82", "%c0%af", "%ed%a0%80", "%2e%2e%2f", "%25", "%u0041", "%%", "%0d%0a", "%2F", "%5C");
const segment = fc.oneof(
  fc.webSegment(),
  anyText(20).map((s) => encodeURIComponent(s)),
  badPercent,
  fc.constantFrom("..", ".", "", ";x=1", "%2e%2e", "~", "a".repeat(300)),
);

function pathFor(route: FuzzRoute): fc.Arbitrary<string> {
  if (route.path.includes("/:")) {
    // Fill each :param with a plausible id, junk, or bad percent-encoding.
    const param = fc.oneof(fc.stringMatching(/^[A-Za-z0-9]{12}$/), segment, fc.constant("0".repeat(5000)));
    const parts = route.path.split("/");
    return fc.tuple(...parts.map((p) => (p.startsWith(":") ? param : fc.constant(p)))).map((ps) => ps.join("/"));
  }
  return fc.oneof(
    { weight: 6, arbitrary: fc.constant(route.path) },
    { weight: 2, arbitrary: fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `${route.path.replace(/\/$/, "")}/${s.join("/")}`) },
    { weight: 1, arbitrary: badPercent.map((p) => `${route.path}${p}`) },
    { weight: 1, arbitrary: fc.constantFrom(route.path.toUpperCase(), `${route.path}/`, `/${route.path}`, `${route.path}/..${route.path}`) },
  );
}

function queryFor(route: FuzzRoute, key: string, inviteToken: string): fc.Arbitrary<string> {
  const value = fc.oneof(
    fc.constant(key),
    fc.constant(encodeURIComponent(key)),
    anyText(30).map((s) => encodeURIComponent(s)),
    badPercent,
    printable(30).map((s) => s.replace(/[#\s]/g, "")),
    fc.constant("x".repeat(5000)),
  );
  const pairs = fc
    .array(fc.tuple(fc.oneof(fc.constantFrom("key", "redirect", "t", "token", "x", "", "key[]", "%6Bey"), anyText(5).map(encodeURIComponent)), value), { maxLength: 5 })
    .map((ps) => (ps.length ? `?${ps.map(([k, v]) => `${k}=${v}`).join("&")}` : ""));
  const token = fc.oneof(
    fc.constant(inviteToken),
    fc.constant(inviteToken.slice(0, 12) + "A".repeat(22)), // a real id with the wrong secret
    fc.stringMatching(/^[A-Za-z0-9]{12}[A-Za-z0-9_-]{22}$/),
    anyText(40).map(encodeURIComponent),
    badPercent,
    fc.constant("A".repeat(10_000)),
    fc.constant(""),
  );
  if (route.tokenQuery) return fc.oneof(pairs, token.map((t) => `?${t}`));
  if (route.tokenParam) return fc.oneof(pairs, token.map((t) => `?${route.tokenParam}=${t}`), fc.constant(""));
  return fc.oneof({ weight: 3, arbitrary: pairs }, { weight: 1, arbitrary: fc.constant("") });
}

function headersFor(key: string): fc.Arbitrary<[string, string][]> {
  const candidates: fc.Arbitrary<[string, string]>[] = [
    fc.oneof(fc.constant(`Bearer ${key}`), fc.constant("Bearer"), fc.constant(`bearer  ${key}  `), fc.constant("Basic Zm9vOmJhcg=="), printable(60), fc.constant(`Bearer ${"k".repeat(4000)}`)).map((v) => ["Authorization", v] as [string, string]),
    fc.constantFrom("application/json", "application/x-www-form-urlencoded", "multipart/form-data", "multipart/form-data; boundary=zz", "text/plain; charset=utf-16", "application/octet-stream", ";;;", "application/json; charset=nope").map((v) => ["Content-Type", v] as [string, string]),
    fc.oneof(fc.ipV4(), fc.ipV6(), fc.array(fc.ipV4(), { maxLength: 8 }).map((a) => a.join(", ")), printable(40), fc.constant("unknown, , ,"), fc.constant(Array(1500).fill("10.0.0.1").join(","))).map((v) => ["X-Forwarded-For", v] as [string, string]),
    printable(200).map((v) => ["Cookie", v] as [string, string]),
    fc.oneof(printable(100), fc.constant("U".repeat(8000))).map((v) => ["User-Agent", v] as [string, string]),
    fc.constantFrom("*/*", "text/html", "application/json", "", "*/*;q=bad").map((v) => ["Accept", v] as [string, string]),
    fc.constantFrom("https://evil.example", "null", "").map((v) => ["Origin", v] as [string, string]),
    fc.constantFrom("bytes=0-1", "bytes=-5", "junk").map((v) => ["Range", v] as [string, string]),
    fc.constantFrom("gzip", "br, deflate", "identity;q=0").map((v) => ["Accept-Encoding", v] as [string, string]),
    fc.tuple(fc.stringMatching(/^X-[A-Za-z0-9-]{1,20}$/), printable(100)),
    // A huge header: some stay under the 16 KiB head limit, some go over it (431).
    fc.integer({ min: 1000, max: 20_000 }).map((n) => ["X-Huge", "h".repeat(n)] as [string, string]),
  ];
  return fc.array(fc.oneof(...candidates), { maxLength: 6 });
}

const badUtf8 = fc.constantFrom(
  new Uint8Array([0xff, 0xfe, 0xfd]),
  new Uint8Array([0xc0, 0xaf]),
  new Uint8Array([0xe2, 0x82]),
  new Uint8Array([0xed, 0xa0, 0x80]),
  new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0xff, 0x7d]), // {"a":\xff}
);
const formBody = fc
  .array(fc.tuple(fc.constantFrom("user", "password", "password_confirm", "token", "t", "x"), fc.oneof(printable(40), anyText(20), fc.constant("a".repeat(70_000)))), { maxLength: 5 })
  .map((fields) => fields.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&"));
const body: fc.Arbitrary<Uint8Array | string | null> = fc.oneof(
  { weight: 10, arbitrary: formBody },
  { weight: 40, arbitrary: fc.constant(null) },
  { weight: 10, arbitrary: fc.json({ maxDepth: 3 }) },
  { weight: 5, arbitrary: fc.constantFrom("{", '{"a":', "[1,2", "null", '"\\ud800"', "{}".repeat(1000)) },
  { weight: 5, arbitrary: fc.webQueryParameters() },
  { weight: 5, arbitrary: anyText(200) },
  { weight: 5, arbitrary: badUtf8 },
  { weight: 5, arbitrary: fc.uint8Array({ maxLength: 64 * 1024 }) },
  { weight: 1, arbitrary: fc.integer({ min: 100_000, max: 1024 * 1024 }).map((n) => new Uint8Array(n).fill(0x61)) },
);

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PROPFIND", "FOO", "get", "Post"];

function fetchCase(key: string, inviteToken: string): fc.Arbitrary<FetchCase> {
  return fc.constantFrom(...FUZZ_ROUTES).chain((route) =>
    fc.record({
      kind: fc.constant("fetch" as const),
      method: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...route.methods) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
      target: fc.tuple(fc.oneof({ weight: 5, arbitrary: pathFor(route) }, { weight: 1, arbitrary: fc.webPath() }), queryFor(route, key, inviteToken)).map(([p, q]) => (p.startsWith("/") ? p : `/${p}`) + q),
      // On authenticated routes, half the requests carry the valid key so the code behind the check is fuzzed too.
      headers: fc.tuple(fc.boolean(), headersFor(key)).map(([withKey, hs]) =>
        route.auth && withKey ? [["Authorization", `Bearer ${key}`] as [string, string], ...hs.filter(([k]) => k !== "Authorization")] : hs,
      ),
      body,
    }),
  );
}

/** Requests fetch() would refuse or repair: written byte for byte. */
function rawCase(key: string): fc.Arbitrary<RawCase> {
  const route = fc.constantFrom(...FUZZ_ROUTES);
  const highBytes = fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => b.map((x) => 0x80 | x));
  const ctl = fc.uint8Array({ minLength: 1, maxLength: 5 }).map((b) => b.map((x) => x & 0x1f));
  const join = (...parts: (string | Uint8Array)[]) => {
    const chunks = parts.map((p) => (typeof p === "string" ? enc.encode(p) : p));
    const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  };
  const head = (method: string, target: string | Uint8Array, extra: (string | Uint8Array)[] = []) =>
    join(method, " ", target, " HTTP/1.1\r\nHost: localhost\r\n", ...extra, "Connection: close\r\n\r\n");
  const variants: fc.Arbitrary<Uint8Array>[] = [
    // Bad UTF-8 and control bytes in the request target.
    fc.tuple(route, highBytes).map(([r, b]) => head("GET", join(r.path, r.tokenQuery ? "?" : "/", b))),
    fc.tuple(route, highBytes).map(([r, b]) => head("GET", join(r.path, `?key=${key}&x=`, b))),
    fc.tuple(route, ctl).map(([r, b]) => head("GET", join(r.path, "?", b))),
    // Bad bytes in header values and names.
    fc.tuple(route, highBytes).map(([r, b]) => head("GET", r.path, [join("User-Agent: ", b, "\r\n"), join("Authorization: Bearer ", b, "\r\n")])),
    fc.tuple(route, ctl).map(([r, b]) => head("GET", r.path, [join("X-Ctl: a", b, "b\r\n")])),
    route.map((r) => head("GET", r.path, ["Bad Header: x\r\n"])),
    route.map((r) => head("GET", r.path, ["X(): y\r\n"])),
    route.map((r) => head("GET", r.path, [": empty-name\r\n"])),
    // Framing trouble: conflicting or invalid lengths, chunked junk.
    route.map((r) => join("POST ", r.path, " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 7\r\nConnection: close\r\n\r\nhello")),
    route.map((r) => join("POST ", r.path, " HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\nConnection: close\r\n\r\n")),
    route.map((r) => join("POST ", r.path, " HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\nConnection: close\r\n\r\n")),
    route.map((r) => join("POST ", r.path, " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999\r\nConnection: close\r\n\r\n")),
    route.map((r) => join("POST ", r.path, " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n")),
    route.map((r) => join("POST ", r.path, " HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")),
    route.map((r) => join("POST ", r.path, " HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n")),
    route.map((r) => join("POST ", r.path, ` HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nAuthorization: Bearer ${key}\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"a":`, new Uint8Array([0xff, 0x7d]))),
    // Odd request lines.
    route.map((r) => join("GET ", r.path, " HTTP/1.0\r\n\r\n")),
    route.map((r) => join("GET ", r.path, " HTTP/1.1\r\nConnection: close\r\n\r\n")), // no Host
    route.map((r) => join("GET http://evil.example", r.path, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")),
    route.map((r) => join("GET ", r.path, " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")), // one-letter Host
    route.map((r) => join("GET ", r.path, " HTTP/1.1\nHost: localhost\nConnection: close\n\n")), // bare LF
    route.map((r) => join("GET ", r.path, " HTTP/9.9\r\nHost: localhost\r\nConnection: close\r\n\r\n")),
    route.map((r) => join("G@T ", r.path, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")),
    route.map((r) => join("M".repeat(5000), " ", r.path, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")),
    fc.constantFrom("TRACE", "CONNECT", "TRACK").chain((m) => route.map((r) => head(m, r.path))),
    fc.constant(enc.encode("OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")),
    fc.constant(enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")),
    route.map((r) => head("GET", `${r.path}?${"q".repeat(20_000)}`)),
    route.map((r) => head("GET", r.path, [Array.from({ length: 300 }, (_, i) => `X-Many-${i}: v\r\n`).join("")])),
    fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => join(b, "\r\n\r\n")), // pure junk
  ];
  return fc.oneof(...variants).map((bytes) => ({ kind: "raw" as const, bytes }));
}

/** Sends raw bytes (respecting backpressure) and returns the status of the first response, or null if none came. */
function sendRaw(port: number, bytes: Uint8Array, timeoutMs = 3000): Promise<number | null> {
  return new Promise((resolve) => {
    let text = "";
    let done = false;
    let offset = 0;
    const finish = (s: { end(): void } | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      try {
        s?.end();
      } catch {}
      resolve(m ? Number(m[1]) : null);
    };
    let sock: { end(): void } | null = null;
    const timer = setTimeout(() => finish(sock), timeoutMs);
    const pump = (s: { write(b: Uint8Array): number }) => {
      while (offset < bytes.length) {
        const n = s.write(bytes.subarray(offset));
        if (n <= 0) return;
        offset += n;
      }
    };
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          sock = s;
          pump(s);
        },
        drain(s) {
          pump(s);
        },
        data(s, chunk) {
          text += new TextDecoder("latin1").decode(chunk);
          if (text.includes("\r\n\r\n")) finish(s);
        },
        close() {
          finish(null);
        },
        error() {
          finish(null);
        },
      },
    }).catch(() => finish(null));
  });
}

async function sendFetch(base: string, c: FetchCase): Promise<number | "refused"> {
  let request: Request;
  try {
    request = new Request(base + c.target, { method: c.method, headers: c.headers, body: c.method === "GET" || c.method === "HEAD" ? null : c.body, redirect: "manual" });
  } catch {
    return "refused"; // fetch() will not build it (e.g. a forbidden method); the raw variants cover those
  }
  try {
    const r = await fetch(request);
    await r.arrayBuffer();
    return r.status;
  } catch {
    return "refused"; // connection closed on us (e.g. 431/413 then close mid-upload): not a server error
  }
}

async function pool<T>(items: T[], width: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  }));
}

function describeCase(c: Case): string {
  if (c.kind === "raw") return `raw ${JSON.stringify(new TextDecoder("latin1").decode(c.bytes.subarray(0, 300)))}`;
  const b = c.body === null ? "no body" : typeof c.body === "string" ? `body ${JSON.stringify(c.body.slice(0, 100))}` : `body ${c.body.length} bytes`;
  return `${c.method} ${c.target.slice(0, 300)} headers ${JSON.stringify(c.headers.map(([k, v]) => [k, v.slice(0, 60)]))} ${b}`;
}

describe("fuzz", () => {
  test(`${FETCH_REQUESTS + RAW_REQUESTS} generated requests across every route: no 5xx, no crash, normal service afterwards`, async () => {
    const seed = Number(process.env.INVITED_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const sb = sandbox();
    // Lockouts are off here: from one client address the junk would soon lock the address out, and every bad key
    // would then get the same 429, so the fuzz would stop reaching the refusal, audit and counting paths.
    await Bun.write(sb.config, (await Bun.file(sb.config).text()).replace("[server]\n", '[server]\nidle_timeout = "2s"\nrequest_log = false\n').replace("[limits]\n", "[limits]\nauth_failures = 1000000\n"));
    const server: TestServer = await startServer(sb);
    try {
      const key = await createKey(sb);
      // One real invite (unlimited uses) so token-taking routes get past the token check sometimes.
      const invite = await cli(["invite", "create", "example.com", "--unlimited"], { config: sb.config });
      expect(invite.code).toBe(0);
      const inviteToken = /\?([A-Za-z0-9_-]+)\s*$/.exec(invite.stdout.trim())![1]!;
      const cases: Case[] = [
        ...fc.sample(fetchCase(key, inviteToken), { numRuns: FETCH_REQUESTS, seed }),
        ...fc.sample(rawCase(key), { numRuns: RAW_REQUESTS, seed: seed + 1 }),
      ];
      // Interleave raw and fetch traffic.
      const order = fc.sample(fc.integer(), { numRuns: cases.length, seed: seed + 2 });
      const shuffled = cases.map((c, i) => [order[i]!, c] as const).sort((a, b) => a[0] - b[0]).map(([, c]) => c);

      const byClass = new Map<string, number>();
      const serverErrors: string[] = [];
      let parser505 = 0;
      let answered = 0;
      const started = performance.now();
      await pool(shuffled, CONCURRENCY, async (c) => {
        let status: number | null;
        let sentRaw = c.kind === "raw";
        if (c.kind === "fetch") {
          const r = await sendFetch(server.url, c);
          if (r === "refused") {
            sentRaw = true;
            status = await sendRaw(server.port, toRaw(c));
          } else status = r;
        } else status = await sendRaw(server.port, c.bytes);
        const cls = status === null ? "no answer" : `${Math.floor(status / 100)}xx`;
        byClass.set(cls, (byClass.get(cls) ?? 0) + 1);
        if (status === null) return;
        answered++;
        // Bun's HTTP parser, before invited sees anything, answers 505 to a request line it cannot parse (control
        // characters in the target, bare LF line ends, a version other than HTTP/1.x). Only hand-made bytes can
        // trigger it; every other 5xx is a failure. invited's own answers are checked in /metrics below.
        if (status === 505 && sentRaw) parser505++;
        else if (status >= 500) serverErrors.push(`${status} for ${describeCase(c)}`);
      });
      const seconds = (performance.now() - started) / 1000;
      console.log(`fuzz seed ${seed}: ${shuffled.length} requests in ${seconds.toFixed(1)}s, ${JSON.stringify(Object.fromEntries(byClass))}, of which ${parser505} were Bun's parser's 505`);

      if (serverErrors.length) console.error(`fuzz seed ${seed} (rerun with INVITED_FUZZ_SEED=${seed}):\n${serverErrors.slice(0, 20).join("\n")}`);
      expect(serverErrors).toEqual([]);
      expect(answered).toBeGreaterThanOrEqual(10_000);
      expect(server.proc.exitCode).toBeNull();
      expect(server.output()).not.toMatch(/unhandled error|request failed|server error/);

      // Normal service afterwards.
      expect((await get(`${server.url}/healthz`)).status).toBe(200);
      const minted = await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } });
      expect(minted.status).toBe(201);
      expect((await get(`${server.url}/invite${new URL(minted.headers.get("location")!).search}`)).status).toBe(200);
      // Nothing that reached invited was answered with a 5xx, and invited saw most of the traffic.
      const metrics = await (await get(`${server.url}/metrics`)).text();
      expect(metrics.match(/^invited_http_requests_total\{.*status="5\d\d"\} \d+$/gm)).toBeNull();
      const seen = [...metrics.matchAll(/^invited_http_requests_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
      expect(seen).toBeGreaterThan(answered * 0.7);
    } finally {
      expect(await server.stop()).toBe(0);
      sb.cleanup();
    }
  }, 240_000);
});

describe("routing ignores the Host header", () => {
  test("no Host, or a one-letter Host, neither breaks routing nor lets /zz/metrics reach /metrics", async () => {
    const sb = sandbox();
    const server = await startServer(sb);
    try {
      const raw = (target: string, host: string) => sendRaw(server.port, enc.encode(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
      // HTTP/1.0 allows a request without Host; Bun then gives the bare path as the URL.
      for (const path of ["/healthz", "/register", "/register?t=abc", "/invite?abc", "/invites_api", "/metrics", "/nope"]) {
        const status = await sendRaw(server.port, enc.encode(`GET ${path} HTTP/1.0\r\n\r\n`));
        expect({ path, status: status !== null && status < 500 }).toEqual({ path, status: true });
      }
      for (const host of ["a", "ab", "a:1", "localhost"]) {
        expect({ host, status: await raw("/healthz", host) }).toEqual({ host, status: 200 });
        expect({ host, status: await raw("/metrics", host) }).toEqual({ host, status: 200 }); // loopback is allowed
        expect({ host, status: await raw("/zz/metrics", host) }).toEqual({ host, status: 404 });
        expect({ host, status: await raw("/zzhealthz", host) }).toEqual({ host, status: 404 });
      }
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });
});

/** A fetch case fetch() refused, written as raw bytes instead (method and headers as generated). */
function toRaw(c: FetchCase): Uint8Array {
  const body = c.body === null ? new Uint8Array() : typeof c.body === "string" ? enc.encode(c.body) : c.body;
  const headers = c.headers.map(([k, v]) => `${k}: ${v}\r\n`).join("");
  const head = enc.encode(`${c.method} ${c.target} HTTP/1.1\r\nHost: localhost\r\n${headers}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}
