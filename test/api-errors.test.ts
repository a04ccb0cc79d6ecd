import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { get, rawRequest, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { ALL_SCOPES, call, createKeyWith, expectValid, openApiDocument, scopeArgs } from "./api-helpers.ts";

let sb: Sandbox;
let server: TestServer;
let key: string;
let url: string;

const ROUTES = [
  ["POST", "/api/v1/invites"],
  ["GET", "/api/v1/invites"],
  ["GET", "/api/v1/invites/{id}"],
  ["DELETE", "/api/v1/invites/{id}"],
  ["POST", "/api/v1/invites/redeem"],
  ["GET", "/api/v1/audit"],
  ["GET", "/api/v1/accounts/{user}"],
  ["POST", "/api/v1/accounts/{user}/disable"],
  ["DELETE", "/api/v1/accounts/{user}"],
  ["POST", "/api/v1/xmpp/check"],
  ["POST", "/api/v1/xmpp/reserve"],
  ["POST", "/api/v1/xmpp/commit"],
  ["POST", "/api/v1/xmpp/release"],
  ["POST", "/api/v1/xmpp/report"],
] as const;

beforeAll(async () => {
  // Garbage is sent with bad keys from 127.0.0.1 too; lockout has its own tests.
  sb = sandbox("[limits]\nauth_failures = 0\n");
  server = await startServer(sb);
  url = server.url;
  key = await createKeyWith(sb, scopeArgs(ALL_SCOPES));
});
afterAll(async () => {
  await server.stop();
  sb.cleanup();
});

describe("OpenAPI document and docs page", () => {
  test("every route is in the document, with examples, security and its error answers", async () => {
    const doc = await openApiDocument(url);
    expect(doc.openapi).toMatch(/^3\./);
    const documented = Object.entries(doc.paths).flatMap(([p, item]: [string, any]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`));
    expect(documented.sort()).toEqual(ROUTES.map(([m, p]) => `${m} ${p}`).sort());
    for (const [method, path] of ROUTES) {
      const op = doc.paths[path][method.toLowerCase()];
      expect(op.summary).toBeTruthy();
      expect(op.security).toEqual([{ bearer: [] }]);
      const success = Object.keys(op.responses).filter((s) => s.startsWith("2"));
      expect(success).toHaveLength(1);
      expect(op.responses[success[0]!].content["application/json"].example).toBeDefined();
      for (const s of ["401", "403", "429"]) expect(op.responses[s]).toBeDefined();
      if (method === "POST") {
        const media = op.requestBody.content["application/json"];
        expect(media.schema.type).toBe("object");
        expect(media.example).toBeDefined();
        expect(Object.keys(op.requestBody.content)).toEqual(["application/json"]);
      }
    }
    expect(doc.components.securitySchemes.bearer.scheme).toBe("bearer");
    // The examples themselves match their schemas.
    for (const [method, path] of ROUTES) {
      const op = doc.paths[path][method.toLowerCase()];
      for (const [status, r] of Object.entries(op.responses) as [string, any][]) {
        const media = r.content["application/json"];
        if (media.example !== undefined) expectValid(media.example, media.schema, doc, `example of ${method} ${path} ${status}`);
      }
      if (op.requestBody) expectValid(op.requestBody.content["application/json"].example, op.requestBody.content["application/json"].schema, doc, `request example of ${path}`);
    }
    // Every error code the server can give is listed in the description.
    for (const code of ["invalid_request", "invalid_json", "missing_key", "invalid_key", "insufficient_scope", "not_found", "method_not_allowed", "rate_limited", "locked_out"])
      expect(doc.info.description).toContain(`\`${code}\``);
  });

  test("the schema check itself catches a wrong answer", async () => {
    const doc = await openApiDocument(url);
    const schema = doc.paths["/api/v1/invites"].post.responses["201"].content["application/json"].schema;
    const good = doc.paths["/api/v1/invites"].post.responses["201"].content["application/json"].example;
    expectValid(good, schema, doc, "good");
    expect(() => expectValid({ ...good, max_uses: "1" }, schema, doc, "bad type")).toThrow();
    expect(() => expectValid({ ...good, kind: "other" }, schema, doc, "bad enum")).toThrow();
    const { url: _u, ...missing } = good;
    expect(() => expectValid(missing, schema, doc, "missing")).toThrow();
    expect(() => expectValid({ ...good, expires_at: "tomorrow" }, schema, doc, "bad date")).toThrow();
  });

  test("the docs page is readable HTML that loads nothing from anywhere", async () => {
    const r = await get(`${url}/api/v1/docs`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/html/);
    expect(r.headers.get("content-security-policy")).toContain("default-src 'none'");
    const page = await r.text();
    expect(page).not.toMatch(/<script|<link|<img|<iframe|@import|url\(/i);
    expect([...page.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1])).toEqual(["openapi.json"]);
    for (const [method, path] of ROUTES) expect(page).toContain(`<span class="m">${method}</span> <code>${path}</code>`);
    expect(page).toContain("insufficient_scope");
  });
});

describe("authentication on /api/v1", () => {
  test("no key is 401 with WWW-Authenticate; ?key= alone is refused the same way and never used", async () => {
    for (const [method, path] of ROUTES) {
      const concrete = path.replace("{id}", "abc");
      const r = await call(url, method, concrete, { body: method === "POST" ? {} : undefined });
      expect(`${method} ${path} ${r.status} ${r.body.error.code}`).toBe(`${method} ${path} 401 missing_key`);
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
      const viaQuery = await call(url, method, `${concrete}?key=${key}`, { body: method === "POST" ? {} : undefined });
      expect(viaQuery.status).toBe(401);
      expect(viaQuery.body.error.message).toContain("?key=");
    }
  });

  test("wrong, malformed, unknown and non-Bearer keys are 403 invalid_key", async () => {
    const [id, token] = key.split("/");
    const bad = [`${id}/${"A".repeat(43)}`, `ZZZZZZZZZZZZ/${token}`, "nonsense", `${key}x`, "x".repeat(10_000)];
    for (const k of bad) {
      const r = await call(url, "GET", "/api/v1/invites", { key: k });
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe("invalid_key");
    }
    for (const header of [`Basic ${btoa("a:b")}`, "Bearer", "", `Bearer ${key} extra`]) {
      const r = await call(url, "GET", "/api/v1/invites", { headers: { Authorization: header } });
      expect([401, 403]).toContain(r.status);
    }
  });
});

describe("every error is JSON", () => {
  test("unknown paths are 404 not_found; known paths with other methods are 405 with Allow", async () => {
    for (const path of ["/api/v1", "/api/v1/", "/api/v1/nope", "/api/v1/invites/a/b", "/api/v1/audit/x", "/api/v1/%zz"]) {
      const r = await call(url, "GET", path, { key });
      expect(`${path} ${r.status} ${r.body.error.code}`).toBe(`${path} 404 not_found`);
    }
    const cases: [string, string, string][] = [
      ["PUT", "/api/v1/invites", "GET, POST"],
      ["PATCH", "/api/v1/invites/abc", "DELETE, GET"],
      ["DELETE", "/api/v1/invites", "GET, POST"],
      ["GET", "/api/v1/invites/redeem", ""], // matches /invites/{id}: a GET of an invite called "redeem"
      ["PUT", "/api/v1/audit", "GET"],
      ["POST", "/api/v1/audit", "GET"],
    ];
    for (const [method, path, allow] of cases) {
      const r = await call(url, method, path, { key });
      if (!allow) {
        expect(r.status).toBe(404);
        continue;
      }
      expect(`${method} ${path} ${r.status} ${r.body.error.code}`).toBe(`${method} ${path} 405 method_not_allowed`);
      const allowed = r.headers.get("allow")!.split(", ").filter((m) => m !== "OPTIONS").sort().join(", ");
      expect(allowed).toBe(allow);
    }
    const odd = await rawRequest(server.port, `PROPFIND /api/v1/invites HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    expect(odd).toMatch(/^HTTP\/1\.1 (405|400)/);
  });

  test("CORS: preflight 204 with explicit headers, no credentials, and /invites_api keeps its own", async () => {
    const pre = await get(`${url}/api/v1/invites`, {
      method: "OPTIONS",
      headers: { Origin: "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-credentials")).toBeNull();
    expect(pre.headers.get("access-control-allow-headers")).toBe("Authorization, Content-Type");
    expect(pre.headers.get("access-control-allow-methods")).toBe("GET, POST, DELETE, OPTIONS");
    expect(pre.headers.get("access-control-max-age")).toBe("7200");
    expect(pre.headers.get("vary")).toBeNull();
    const r = await call(url, "GET", "/api/v1/invites", { key, headers: { Origin: "https://app.example" } });
    expect(r.headers.get("access-control-expose-headers")).toContain("Location");
    // The JSON API's CORS plugin must not leak into the Prosody-compatible route.
    const legacy = await get(`${url}/invites_api`, { method: "OPTIONS", headers: { Origin: "https://x.example", "Access-Control-Request-Method": "POST" } });
    expect(legacy.headers.get("access-control-allow-methods")).toBe("OPTIONS, GET, POST");
    expect(legacy.headers.get("access-control-allow-headers")).toBe("Content-Type, Authorization");
    expect(legacy.headers.get("access-control-expose-headers")).toBeNull();
  });
});

describe("garbage input to every /api/v1 route never gets a 500", () => {
  const junkBodies: [string, Bun.BodyInit, string][] = [
    ["empty", "", "application/json"],
    ["truncated", '{"kind":', "application/json"],
    ["array", "[]", "application/json"],
    ["null", "null", "application/json"],
    ["number", "5", "application/json"],
    ["string", '"x"', "application/json"],
    ["deep", "[".repeat(5000) + "]".repeat(5000), "application/json"],
    ["huge string", JSON.stringify({ note: "x".repeat(200_000), token: "t".repeat(200_000), username: "u" }), "application/json"],
    ["wrong types", JSON.stringify({ kind: 5, username: [], groups: "g", roles: [1], max_uses: "many", ttl: -1, note: {}, token: 5 }), "application/json"],
    ["unknown field", JSON.stringify({ bogus: true, token: "a", username: "b" }), "application/json"],
    ["proto", '{"__proto__":{"admin":true},"constructor":{"prototype":{}}}', "application/json"],
    ["binary", new Uint8Array([0xff, 0xfe, 0x00, 0xc3, 0x28]), "application/octet-stream"],
    ["form", "kind=reset&username=x", "application/x-www-form-urlencoded"],
    ["multipart", "--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--zz--\r\n", "multipart/form-data; boundary=zz"],
    ["text", "hello", "text/plain"],
    ["bad unicode", '{"username":"\\ud800","token":"\\udfff"}', "application/json"],
    ["nan", '{"max_uses":NaN,"ttl":Infinity}', "application/json"],
    ["big numbers", '{"max_uses":1e400,"ttl":99999999999999999999}', "application/json"],
  ];
  const junkQueries = [
    "?limit=-1",
    "?limit=abc",
    "?limit=1e9",
    "?limit=1&limit=2",
    "?status=all",
    "?kind=x",
    "?cursor=" + "A".repeat(5000),
    "?cursor=%zz",
    "?%%%",
    "?since=yesterday",
    "?before=-5",
    "?before=1.5",
    "?global=maybe",
    "?type=*",
    "?type=key.*&user=" + "u".repeat(2000),
    "?user=%00",
    "?unknown=1",
  ];
  const junkIds = ["a%20b", "%00", "..%2F..", "x".repeat(500), "%F0%9F%98%80", "a;b", "*"];

  test("bodies", async () => {
    for (const [method, path] of ROUTES.filter(([m]) => m === "POST")) {
      for (const [name, body, type] of junkBodies) {
        const r = await call(url, method, path, { key, rawBody: body, headers: { "Content-Type": type } });
        expect(`${path} ${name} ${r.status}`).toMatch(/ 4\d\d$/);
      }
    }
  });

  test("queries", async () => {
    for (const [method, path] of ROUTES.filter(([m]) => m === "GET" || m === "DELETE")) {
      for (const q of junkQueries) {
        const r = await call(url, method, path.replace("{id}", "abc") + q, { key });
        expect(`${method} ${path}${q} ${r.status}`).toMatch(/ (200|4\d\d)$/);
      }
    }
  });

  test("ids", async () => {
    for (const method of ["GET", "DELETE"]) {
      for (const id of junkIds) {
        const r = await call(url, method, `/api/v1/invites/${id}`, { key });
        expect(`${method} ${id} ${r.status}`).toMatch(/ 4\d\d$/);
      }
    }
  });

  test("raw junk over TCP", async () => {
    const requests = [
      `POST /api/v1/invites HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{"a":`,
      `POST /api/v1/invites HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n`,
      `GET /api/v1/invites?limit=\xff HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nConnection: close\r\n\r\n`,
      `GET /api/v1/invites HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \x01\x02\r\nConnection: close\r\n\r\n`,
    ];
    for (const req of requests) {
      const bytes = new Uint8Array([...req].map((c) => c.charCodeAt(0) & 0xff));
      const head = await rawRequest(server.port, bytes);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
      expect(status === 0 || status < 500).toBe(true);
    }
    expect((await call(url, "GET", "/api/v1/invites", { key })).status).toBe(200);
  });
});
