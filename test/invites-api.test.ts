import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { cli, createKey, get, rawRequest, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { createKeyWith } from "./api-helpers.ts";

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-max-age": "7200",
  "access-control-allow-headers": "Content-Type, Authorization",
  "access-control-allow-methods": "OPTIONS, GET, POST",
};

function expectCors(r: Response) {
  for (const [k, v] of Object.entries(CORS)) expect(r.headers.get(k)).toBe(v);
}

function countInvites(sb: Sandbox): number {
  const db = new Database(sb.db, { readonly: true });
  try {
    return (db.query("SELECT count(*) AS n FROM invites").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

let sb: Sandbox;
let server: TestServer;
let key: string;

beforeAll(async () => {
  // These tests send many bad keys from 127.0.0.1 on purpose; the lockout that would follow is tested in keys-limits.test.ts.
  sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."other.org"]\npublic_url = "https://chat.other.org/base"\ninvite_path = "/join"\n[limits]\nauth_failures = 0\n`);
  server = await startServer(sb);
  key = await createKey(sb, "example.com", "test");
});
afterAll(async () => {
  await server.stop();
  sb.cleanup();
});

describe("GET and POST /invites_api with a valid key", () => {
  test("?key= answers 201, empty body, Location = public_url + invite_path + ? + token, CORS headers", async () => {
    const before = countInvites(sb);
    const r = await get(`${server.url}/invites_api?key=${key}`);
    expect(r.status).toBe(201);
    expect(await r.text()).toBe("");
    expectCors(r);
    const location = r.headers.get("location")!;
    const m = /^https:\/\/example\.com\/invite\?([A-Za-z0-9_-]+)$/.exec(location);
    expect(m).not.toBeNull();
    expect(m![1]!.length * 6).toBeGreaterThanOrEqual(128);
    expect(countInvites(sb)).toBe(before + 1);
  });

  test("Authorization: Bearer works with GET and POST, with and without a query string", async () => {
    for (const [method, path] of [["GET", "/invites_api"], ["POST", "/invites_api"], ["GET", "/invites_api?"], ["POST", "/invites_api?x=1"]] as const) {
      const r = await get(`${server.url}${path}`, { method, headers: { Authorization: `Bearer ${key}` } });
      expect(r.status).toBe(201);
      expect(r.headers.get("location")).toMatch(/^https:\/\/example\.com\/invite\?[A-Za-z0-9_-]{22,}$/);
      expectCors(r);
    }
  });

  test("the invite records created_by api/token/<ID>, the key's host, a hash instead of the token, and a 7 day default lifetime", async () => {
    const r = await get(`${server.url}/invites_api?key=${key}`);
    const token = r.headers.get("location")!.split("?")[1]!;
    const db = new Database(sb.db, { readonly: true });
    const row = db.query("SELECT * FROM invites WHERE token_hash = ?").get(createHash("sha256").update(token).digest("hex")) as Record<string, any>;
    const leaked = db.query("SELECT count(*) AS n FROM invites WHERE token_hash = ? OR data LIKE ?").get(token, `%${token}%`) as { n: number };
    db.close();
    expect(row).not.toBeNull();
    expect(row.created_by).toBe(`api/token/${key.split("/")[0]}`);
    expect(row.host).toBe("example.com");
    expect(row.kind).toBe("account");
    expect(row.max_uses).toBe(1);
    expect(row.uses).toBe(0);
    expect(row.expires_at - row.created_at).toBe(7 * 86_400_000);
    expect(leaked.n).toBe(0);
  });

  test("redirect: any value except false/0 answers 303 See Other with the same kind of Location", async () => {
    for (const v of ["true", "1", "", "yes", "false%20"]) {
      const r = await get(`${server.url}/invites_api?redirect=${v}`, { headers: { Authorization: `Bearer ${key}` } });
      expect(r.status).toBe(303);
      expect(r.headers.get("location")).toMatch(/^https:\/\/example\.com\/invite\?/);
      expectCors(r);
    }
    const bare = await get(`${server.url}/invites_api?key=${key}&redirect`);
    expect(bare.status).toBe(303);
    for (const v of ["false", "0"]) {
      const r = await get(`${server.url}/invites_api?key=${key}&redirect=${v}`);
      expect(r.status).toBe(201);
    }
  });

  test("the host is chosen by the key, not by the Host header", async () => {
    const otherKey = await createKey(sb, "other.org");
    const r = await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${otherKey}`, Host: "example.com" } });
    expect(r.status).toBe(201);
    expect(r.headers.get("location")).toMatch(/^https:\/\/chat\.other\.org\/base\/join\?[A-Za-z0-9_-]+$/);
    const r2 = await get(`${server.url}/invites_api?key=${key}`, { headers: { Host: "other.org" } });
    expect(r2.headers.get("location")).toMatch(/^https:\/\/example\.com\/invite\?/);
  });

  test("every Location leads to a page that names the host", async () => {
    const r = await get(`${server.url}/invites_api?key=${key}`);
    const path = new URL(r.headers.get("location")!);
    const page = await get(`${server.url}${path.pathname}${path.search}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("example.com");
  });
});

describe("bad keys get 403 and create nothing", () => {
  test("missing, malformed, unknown, wrong and oversized keys", async () => {
    const [id] = key.split("/");
    const wrong = `${id}/${"A".repeat(43)}`;
    const unknown = `ZZZZZZZZZZZZ/${key.split("/")[1]}`;
    const before = countInvites(sb);
    const cases: [string, RequestInit][] = [
      ["/invites_api", {}],
      ["/invites_api?key=", {}],
      ["/invites_api?key=nonsense", {}],
      [`/invites_api?key=${wrong}`, {}],
      [`/invites_api?key=${unknown}`, {}],
      [`/invites_api?key=${id}`, {}],
      [`/invites_api?key=${id}/`, {}],
      [`/invites_api?key=${"k".repeat(10_000)}`, {}],
      [`/invites_api?key=${key}x`, {}],
      [`/invites_api?key=${key}&key=${key}`, {}],
      ["/invites_api", { headers: { Authorization: `Bearer ${wrong}` } }],
      ["/invites_api", { headers: { Authorization: `Bearer ${"x".repeat(10_000)}` } }],
      ["/invites_api", { headers: { Authorization: `Basic ${btoa("a:b")}` } }],
      ["/invites_api", { headers: { Authorization: "Bearer" } }],
      ["/invites_api", { headers: { Authorization: "" } }],
      ["/invites_api", { method: "POST", headers: { Authorization: `Bearer ${wrong}` }, body: "x" }],
    ];
    for (const [path, init] of cases) {
      const r = await get(`${server.url}${path}`, init);
      expect(`${path} ${r.status}`).toBe(`${path} 403`);
      expect(r.headers.get("location")).toBeNull();
      expectCors(r);
    }
    expect(countInvites(sb)).toBe(before);
  });

  test("an Authorization header wins over ?key=", async () => {
    const before = countInvites(sb);
    const bad = await get(`${server.url}/invites_api?key=${key}`, { headers: { Authorization: "Bearer nope/nope" } });
    expect(bad.status).toBe(403);
    const empty = await get(`${server.url}/invites_api?key=${key}`, { headers: { Authorization: "" } });
    expect(empty.status).toBe(403);
    expect(countInvites(sb)).toBe(before);
    const good = await get(`${server.url}/invites_api?key=garbage`, { headers: { Authorization: `Bearer ${key}` } });
    expect(good.status).toBe(201);
  });

  test("a key deleted from the CLI stops working at once; a new one works at once", async () => {
    const k = await createKey(sb, "example.com", "short-lived");
    expect((await get(`${server.url}/invites_api?key=${k}`)).status).toBe(201);
    const del = await cli(["key", "delete", "example.com", k.split("/")[0]!], { config: sb.config });
    expect(del.code).toBe(0);
    expect((await get(`${server.url}/invites_api?key=${k}`)).status).toBe(403);
  });
});

describe("methods and CORS", () => {
  test("OPTIONS preflight answers 204 with the CORS headers", async () => {
    const r = await get(`${server.url}/invites_api`, {
      method: "OPTIONS",
      headers: { Origin: "https://elsewhere.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization" },
    });
    expect([200, 204]).toContain(r.status);
    expectCors(r);
  });

  test("PUT, DELETE, PATCH and HEAD get 405 and never create an invite", async () => {
    const before = countInvites(sb);
    for (const method of ["PUT", "DELETE", "PATCH", "HEAD"]) {
      const r = await get(`${server.url}/invites_api?key=${key}`, { method, headers: { Authorization: `Bearer ${key}` } });
      expect(`${method} ${r.status}`).toBe(`${method} 405`);
      expectCors(r);
      expect(r.headers.get("location")).toBeNull();
    }
    const odd = await rawRequest(server.port, `PROPFIND /invites_api?key=${key} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(odd).toMatch(/^HTTP\/1\.1 (405|400)/);
    expect(countInvites(sb)).toBe(before);
  });
});

describe("caching", () => {
  test("every answer is Cache-Control: no-store, the ones carrying a token first", async () => {
    const bearer = { Authorization: `Bearer ${key}` };
    const limited = await createKeyWith(sb, ["--rate", "1/min"]);
    const answers: [string, Response][] = [
      ["201 ?key=", await get(`${server.url}/invites_api?key=${key}`)],
      ["201 bearer POST", await get(`${server.url}/invites_api`, { method: "POST", headers: bearer })],
      ["201 JSON", await get(`${server.url}/invites_api`, { headers: { ...bearer, Accept: "application/json" } })],
      ["303", await get(`${server.url}/invites_api?redirect=1`, { headers: bearer })],
      ["303 JSON", await get(`${server.url}/invites_api?redirect=1`, { headers: { ...bearer, Accept: "application/json" } })],
      ["403", await get(`${server.url}/invites_api?key=nope`)],
      ["201 limited", await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${limited}` } })],
      ["429", await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${limited}` } })],
      ["405", await get(`${server.url}/invites_api`, { method: "PUT", headers: bearer })],
      ["204", await get(`${server.url}/invites_api`, { method: "OPTIONS" })],
    ];
    for (const [name, r] of answers) {
      expect(`${name}: ${r.status} ${r.headers.get("cache-control")}`).toBe(`${name}: ${name.slice(0, 3)} no-store`);
    }
    const json = (await answers[2]![1].json()) as { token?: unknown };
    expect(json.token).toBeString(); // the answer that must not be cached does carry the token
    expect(answers[3]![1].headers.get("location")).toContain("?");
  });
});

describe("odd requests never get a 500", () => {
  test("bad percent-encoding, repeated parameters, junk headers and bodies", async () => {
    const paths = [
      "/invites_api?key=%zz",
      "/invites_api?key=%",
      "/invites_api?%%%",
      "/invites_api?key=%E0%A4%A",
      "/invites_api?key=%00",
      "/invites_api?redirect=1&redirect=0&redirect",
      "/invites_api?&&&=&=",
      `/invites_api?${"a=b&".repeat(2000)}`,
      "/invites_api/",
      "/invites_api/../invites_api",
      "/invites_api%2F",
      "/invite?%zz",
      "/invite?",
      "/invite",
      `/invite?${"A".repeat(5000)}`,
      "/invite?<script>alert(1)</script>",
    ];
    for (const p of paths) {
      const r = await get(`${server.url}${p}`);
      expect(`${p} ${r.status < 500}`).toBe(`${p} true`);
      await r.arrayBuffer();
    }
    const bodies: (string | Uint8Array)[] = ["", "{", "\u0000\u0001\u0002", new Uint8Array([0xff, 0xfe, 0xc3, 0x28]), "x".repeat(200_000)];
    for (const body of bodies) {
      for (const type of ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=zz", "text/plain"]) {
        const r = await get(`${server.url}/invites_api`, { method: "POST", headers: { "Content-Type": type }, body });
        expect(r.status).toBe(403);
        const ok = await get(`${server.url}/invites_api`, { method: "POST", headers: { "Content-Type": type, Authorization: `Bearer ${key}` }, body });
        expect(ok.status).toBe(201);
      }
    }
  });

  test("raw junk over TCP: empty header values, binary bytes, broken request lines", async () => {
    const requests = [
      `GET /invites_api HTTP/1.1\r\nHost: x\r\nAuthorization:\r\nConnection: close\r\n\r\n`,
      `GET /invites_api?key=\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      `GET /invites_api HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x01\x02\x03\r\nConnection: close\r\n\r\n`,
      `POST /invites_api HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n\x00\x00\x00\x00\x00`,
      `POST /invites_api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n`,
      `\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n`,
      `GET /invites_api HTTP/1.1\r\nHost: x\r\nX-Junk: ${"j".repeat(6000)}\r\nConnection: close\r\n\r\n`,
    ];
    for (const req of requests) {
      const bytes = new Uint8Array([...req].map((c) => c.charCodeAt(0) & 0xff));
      const head = await rawRequest(server.port, bytes);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      expect(status === 0 || status < 500).toBe(true);
    }
    const alive = await get(`${server.url}/invites_api?key=${key}`);
    expect(alive.status).toBe(201);
  });

  test("parallel requests each get their own invite", async () => {
    const before = countInvites(sb);
    const results = await Promise.all(Array.from({ length: 200 }, () => get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } })));
    expect(results.every((r) => r.status === 201)).toBe(true);
    const locations = new Set(results.map((r) => r.headers.get("location")));
    expect(locations.size).toBe(200);
    expect(countInvites(sb)).toBe(before + 200);
  });
});

describe("landing page stub", () => {
  test("an unknown token says invalid or expired", async () => {
    const r = await get(`${server.url}/invite?nosuchtoken`);
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    expect((await r.text()).toLowerCase()).toMatch(/invalid|expired/);
  });
});
