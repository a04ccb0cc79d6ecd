// DELETE /api/v1/accounts/{user}: the account on the real server first (here a webhook receiver, so refusals and
// outages are easy to make), then invited's record; a refusal changes nothing and says why (502 provision_failed);
// ?local_only=true removes invited's row alone. Scope account:manage (the accounts scope), the key's own host only.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { ALL_SCOPES, call, createKeyWith, expectValid, openApiDocument, scopeArgs } from "./api-helpers.ts";
import { accountCount, auditEvents, createInvite, query, register } from "./invite-helpers.ts";
import { newSecret, startReceiver, type Receiver } from "./provision-helpers.ts";

let sb: Sandbox;
let server: TestServer;
let receiver: Receiver;
let key: string;
const secret = newSecret();

beforeAll(async () => {
  receiver = startReceiver([secret]);
  sb = sandbox(`[hosts."example.com"]
public_url = "https://example.com"
[hosts."example.com".provision]
type = "webhook"
url = "${receiver.url}"
secret = "${secret}"
timeout = "2s"
[hosts."other.org"]
public_url = "https://other.org"
[limits]
registration_rate = "off"
auth_failures = 0
`);
  server = await startServer(sb);
  key = await createKeyWith(sb, ["--scope", "account:manage"]);
});
afterAll(async () => {
  await server.stop();
  sb.cleanup();
  receiver.stop();
});

async function account(name: string): Promise<void> {
  const invite = await createInvite(sb);
  expect((await register(server, invite.token, name, "correct horse battery")).status).toBe(200);
}

const exists = (name: string) => query(sb, "SELECT 1 FROM accounts WHERE username = ?", name).length === 1;

describe("DELETE /api/v1/accounts/{user}", () => {
  test("deletes downstream first (provision.delete), then invited's row; the audit log says the API did it", async () => {
    await account("alice");
    receiver.received.length = 0;
    const r = await call(server.url, "DELETE", "/api/v1/accounts/alice", { key });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ username: "alice", host: "example.com", downstream: "deleted" });
    expect(receiver.received.map((x) => x.json.type)).toEqual(["provision.delete"]);
    expect(receiver.received[0]!.json.username).toBe("alice");
    expect(exists("alice")).toBe(false);
    const deleted = auditEvents(sb, "account.deleted").at(-1)!;
    expect([deleted.user, deleted.source]).toEqual(["alice", "api"]);
    // Gone now: 404.
    expect((await call(server.url, "DELETE", "/api/v1/accounts/alice", { key })).body.error.code).toBe("account_not_found");
  });

  test("the real server refuses or is down: 502 provision_failed with its reason, the account stays, provision.failed recorded", async () => {
    await account("bob");
    const doc = await openApiDocument(server.url);
    for (const [handler, reason] of [
      [() => new Response("nope", { status: 500 }), "http_500"],
      [async () => (await Bun.sleep(3000), new Response(null, { status: 204 })), "timeout"],
    ] as const) {
      receiver.setHandler(handler);
      const r = await fetch(`${server.url}/api/v1/accounts/bob`, { method: "DELETE", headers: { Authorization: `Bearer ${key}` } });
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(r.status).toBe(502);
      expectValid(body, doc.paths["/api/v1/accounts/{user}"].delete.responses["502"].content["application/json"].schema, doc, "502");
      expect(body.error.code).toBe("provision_failed");
      expect(body.error.message).toContain(`(${reason})`);
      expect(body.error.message).toContain("the account is unchanged");
      expect(exists("bob")).toBe(true);
      const failed = auditEvents(sb, "provision.failed").at(-1)!;
      expect(JSON.parse(failed.details)).toEqual({ kind: "delete", provider: "webhook", reason });
      expect(failed.source).toBe("api");
    }
    receiver.setHandler(() => new Response(null, { status: 204 }));
    expect((await call(server.url, "DELETE", "/api/v1/accounts/bob", { key })).status).toBe(200);
    expect(exists("bob")).toBe(false);
  });

  test("?local_only=true removes only invited's row; the real server is not asked", async () => {
    await account("carol");
    receiver.setHandler(() => new Response("nope", { status: 500 }));
    receiver.received.length = 0;
    try {
      const r = await call(server.url, "DELETE", "/api/v1/accounts/carol?local_only=true", { key });
      expect(r.status).toBe(200);
      expect(r.body.downstream).toBe("skipped");
      expect(receiver.received).toHaveLength(0);
      expect(exists("carol")).toBe(false);
    } finally {
      receiver.setHandler(() => new Response(null, { status: 204 }));
    }
  });

  test("a host without a provider: downstream none", async () => {
    const otherKey = await createKeyWith(sb, ["--scope", "account:manage"], "other.org");
    const invite = await createInvite(sb, [], "other.org");
    expect((await register(server, invite.token, "dora", "correct horse battery")).status).toBe(200);
    const r = await call(server.url, "DELETE", "/api/v1/accounts/dora", { key: otherKey });
    expect(r.body).toEqual({ username: "dora", host: "other.org", downstream: "none" });
  });

  test("scope, host and bad input: 403 without account:manage, another host's key sees 404, nasty names and parameters get 4xx", async () => {
    await account("erin");
    const without = await createKeyWith(sb, scopeArgs(ALL_SCOPES.filter((s) => s !== "account:manage")));
    const refused = await call(server.url, "DELETE", "/api/v1/accounts/erin", { key: without });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe("insufficient_scope");
    expect((await call(server.url, "DELETE", "/api/v1/accounts/erin")).status).toBe(401);
    const otherHost = await createKeyWith(sb, ["--scope", "account:manage"], "other.org");
    expect((await call(server.url, "DELETE", "/api/v1/accounts/erin", { key: otherHost })).status).toBe(404);
    expect(exists("erin")).toBe(true);
    for (const path of ["/api/v1/accounts/%00", "/api/v1/accounts/e%E2%80%8Brin", "/api/v1/accounts/%F0%9F%92%A9", `/api/v1/accounts/${"x".repeat(1000)}`, "/api/v1/accounts/erin%2F..%2Fx"]) {
      const r = await call(server.url, "DELETE", path, { key });
      // No such account: 404, or 422 for a name that could never have been registered (main's username rules).
      expect(`${path.slice(0, 40)} ${r.status}`).toMatch(/ (404|422)$/);
    }
    expect((await call(server.url, "DELETE", `/api/v1/accounts/${"x".repeat(1024)}`, { key })).status).toBe(400);
    expect((await call(server.url, "DELETE", "/api/v1/accounts/erin?local_only=yes", { key })).status).toBe(400);
    expect((await call(server.url, "DELETE", "/api/v1/accounts/erin?local_only=true&local_only=false", { key })).status).toBe(400);
    expect((await call(server.url, "GET", "/api/v1/accounts/erin", { key })).status).toBe(200); // still there
    expect(exists("erin")).toBe(true);
    expect(accountCount(sb)).toBeGreaterThan(0);
  });

  test("POST .../disable disables on the real server first (provision.disable); a refusal is 502 and changes nothing; local_only skips it", async () => {
    await account("gwen");
    receiver.received.length = 0;
    const ok = await call(server.url, "POST", "/api/v1/accounts/gwen/disable", { key, body: {} });
    expect(ok.status).toBe(200);
    expect(ok.body.changed).toBe(true);
    expect(receiver.received.map((x) => [x.json.type, x.json.username])).toEqual([["provision.disable", "gwen"]]);

    await account("hank");
    receiver.setHandler(() => new Response("no", { status: 503 }));
    try {
      const r = await fetch(`${server.url}/api/v1/accounts/hank/disable`, { method: "POST", headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" }, body: "{}" });
      expect(r.status).toBe(502);
      const body = (await r.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe("provision_failed");
      expect(body.error.message).toContain("answered 503 to provision.disable");
      expect(query<{ disabled_at: number | null }>(sb, "SELECT disabled_at FROM accounts WHERE username = 'hank'")[0]!.disabled_at).toBeNull();
      expect(JSON.parse(auditEvents(sb, "provision.failed").at(-1)!.details)).toEqual({ kind: "disable", provider: "webhook", reason: "http_503" });
      const local = await call(server.url, "POST", "/api/v1/accounts/hank/disable", { key, body: { local_only: true } });
      expect(local.status).toBe(200);
      expect(query<{ disabled_at: number | null }>(sb, "SELECT disabled_at FROM accounts WHERE username = 'hank'")[0]!.disabled_at).not.toBeNull();
      expect((await call(server.url, "POST", "/api/v1/accounts/hank/disable", { key, body: { local_only: "yes" } })).status).toBe(400);
    } finally {
      receiver.setHandler(() => new Response(null, { status: 204 }));
    }
  });

  test("eight deletes of one account at once: one 200, the others 404, one account.deleted", async () => {
    await account("fred");
    const before = auditEvents(sb, "account.deleted").length;
    const results = await Promise.all(Array.from({ length: 8 }, () => call(server.url, "DELETE", "/api/v1/accounts/fred", { key })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 404, 404, 404, 404, 404, 404, 404]);
    expect(auditEvents(sb, "account.deleted").length).toBe(before + 1);
  });

  test("the OpenAPI document lists the route, its scope and the 502", async () => {
    const doc = await openApiDocument(server.url);
    const op = doc.paths["/api/v1/accounts/{user}"].delete;
    expect(op.description).toContain("account:manage");
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["200", "404", "502"]));
    expect(doc.tags.map((t: { name: string }) => t.name)).toContain("accounts");
  });
});
