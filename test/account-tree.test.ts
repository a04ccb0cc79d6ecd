// The invite tree through the real CLI and the JSON API: user show / tree (text and --json), user disable / enable
// (no sign-in, sessions end, open invites revoked, audited), invite revoke --by, and GET /api/v1/accounts/{user} and
// POST /api/v1/accounts/{user}/disable under the account:manage scope, answers checked against the OpenAPI document.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cli, get, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { auditEvents, query, register } from "./invite-helpers.ts";
import { Browser, signedIn } from "./account-helpers.ts";
import { call, createKeyWith, openApiDocument, scopeArgs } from "./api-helpers.ts";

const PW = "correct horse battery";

describe("the invite tree", () => {
  let sb: Sandbox;
  let server: TestServer;
  const open: Record<string, string> = {}; // an open invite token per member

  async function memberInvite(inviter: Browser): Promise<string> {
    await inviter.get("/account/invites");
    const r = await inviter.post("/account/invites", {});
    expect(r.status).toBe(201);
    return /value="https:\/\/example\.com\/invite\?([^"]+)"/.exec(r.text)![1]!;
  }

  beforeAll(async () => {
    sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."example.com".user_invites]\nquota = 5\n[hosts."other.org"]\npublic_url = "https://other.org"\n[limits]\nsignin_rate = "off"\nsignin_account_rate = "off"\n`);
    server = await startServer(sb);
    const c = await cli(["invite", "create", "example.com"], { config: sb.config });
    expect((await register(server, c.stdout.trim().split("?")[1]!, "alice", PW)).status).toBe(200);
    const alice = await signedIn(server, "alice@example.com", PW);
    expect((await register(server, await memberInvite(alice), "bob", PW)).status).toBe(200);
    expect((await register(server, await memberInvite(alice), "carol", PW)).status).toBe(200);
    open.alice = await memberInvite(alice);
    const bob = await signedIn(server, "bob@example.com", PW);
    expect((await register(server, await memberInvite(bob), "dave", PW)).status).toBe(200);
    open.bob = await memberInvite(bob);
    const key = await createKeyWith(sb, scopeArgs(["invite:create"]));
    const made = await call(server.url, "POST", "/api/v1/invites", { key, body: {} });
    expect((await register(server, made.body.token, "eve", PW)).status).toBe(200);
  });
  afterAll(async () => {
    await server?.stop();
    sb?.cleanup();
  });

  test("user show: the account, its inviter, its invitees (text and --json)", async () => {
    const bob = await cli(["user", "show", "example.com", "Bob", "--json"], { config: sb.config });
    expect(bob.code).toBe(0);
    const j = JSON.parse(bob.stdout);
    expect(j).toMatchObject({ username: "bob", invited_by: "alice", invite_creator: "account/alice@example.com", disabled: false, host: "example.com" });
    expect(j.invitees.map((i: { username: string }) => i.username)).toEqual(["dave"]);
    expect(Date.parse(j.created_at)).toBeGreaterThan(0);
    const alice = JSON.parse((await cli(["user", "show", "example.com", "alice", "--json"], { config: sb.config })).stdout);
    expect(alice).toMatchObject({ invited_by: null, invite_creator: "cli" });
    expect(alice.invitees.map((i: { username: string }) => i.username)).toEqual(["bob", "carol"]);
    const eve = JSON.parse((await cli(["user", "show", "example.com", "eve", "--json"], { config: sb.config })).stdout);
    expect(eve.invited_by).toBeNull();
    expect(eve.invite_creator).toMatch(/^api\/token\/[A-Za-z0-9_-]{12}$/);
    const text = await cli(["user", "show", "example.com", "bob"], { config: sb.config });
    expect(text.stdout).toMatch(/invited by\s+alice/);
    expect(text.stdout).toMatch(/invitees\s+dave/);
    const missing = await cli(["user", "show", "example.com", "nobody"], { config: sb.config });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no account 'nobody'");
    expect((await cli(["user", "show", "nowhere.org", "bob"], { config: sb.config })).code).toBe(1);
  });

  test("user tree: the whole host with CLI and key invites as roots, or the tree below one member", async () => {
    const all = await cli(["user", "tree", "example.com"], { config: sb.config });
    expect(all.code).toBe(0);
    expect(all.stdout).toBe(["alice (cli)", "├─ bob", "│  └─ dave", "└─ carol", `eve (${JSON.parse((await cli(["user", "show", "example.com", "eve", "--json"], { config: sb.config })).stdout).invite_creator})`, ""].join("\n"));
    const json = JSON.parse((await cli(["user", "tree", "example.com", "--json"], { config: sb.config })).stdout);
    expect(json.map((n: { username: string }) => n.username)).toEqual(["alice", "eve"]);
    expect(json[0].invitees.map((n: { username: string }) => n.username)).toEqual(["bob", "carol"]);
    expect(json[0].invitees[0].invitees[0]).toMatchObject({ username: "dave", invited_by: "bob", invitees: [] });
    const below = JSON.parse((await cli(["user", "tree", "example.com", "bob", "--json"], { config: sb.config })).stdout);
    expect(below).toHaveLength(1);
    expect(below[0]).toMatchObject({ username: "bob", invitees: [{ username: "dave" }] });
    expect((await cli(["user", "tree", "example.com", "ghost"], { config: sb.config })).code).toBe(1);
    const empty = await cli(["user", "tree", "other.org"], { config: sb.config });
    expect(empty.code).toBe(0);
    expect(empty.stderr).toContain("no accounts");
  });

  test("user disable: no sign-in, sessions end, open invites revoked, audited; enable lets the member back in", async () => {
    const dave = await signedIn(server, "dave@example.com", PW);
    await dave.get("/account/invites");
    const daves = await dave.post("/account/invites", {});
    const daveToken = /value="https:\/\/example\.com\/invite\?([^"]+)"/.exec(daves.text)![1]!;
    const r = await cli(["user", "disable", "example.com", "dave"], { config: sb.config });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/disabled; 1 session\(s\) ended, 1 open invite\(s\) revoked/);
    expect((await dave.get("/account")).status).toBe(303);
    const again = await new Browser(server).signIn("dave@example.com", PW);
    expect(again.status).toBe(403);
    expect((await get(`${server.url}/invite?${daveToken}`)).status).toBe(410);
    expect(auditEvents(sb, "account.disabled").map((e) => e.user)).toContain("dave");
    expect(JSON.parse((await cli(["user", "show", "example.com", "dave", "--json"], { config: sb.config })).stdout).disabled).toBe(true);
    expect((await cli(["user", "tree", "example.com"], { config: sb.config })).stdout).toContain("dave [disabled]");
    expect((await cli(["user", "disable", "example.com", "dave"], { config: sb.config })).stderr).toContain("already disabled");
    expect((await cli(["user", "enable", "example.com", "dave"], { config: sb.config })).stderr).toBe("enabled\n");
    expect((await new Browser(server).signIn("dave@example.com", PW)).status).toBe(303);
    expect((await get(`${server.url}/invite?${daveToken}`)).status).toBe(410); // revoked stays revoked
    expect(auditEvents(sb, "account.enabled").map((e) => e.user)).toContain("dave");
    const nobody = await cli(["user", "disable", "example.com", "nobody"], { config: sb.config });
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain("no account 'nobody'");
  });

  test("invite revoke --by USER revokes every open invite that member made", async () => {
    expect((await get(`${server.url}/invite?${open.alice}`)).status).toBe(200);
    const r = await cli(["invite", "revoke", "example.com", "--by", "Alice"], { config: sb.config });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("revoked 1 open invite made by alice@example.com");
    expect(r.stdout.trim()).toMatch(/^[0-9A-Za-z]{12}$/);
    expect((await get(`${server.url}/invite?${open.alice}`)).status).toBe(410);
    expect((await get(`${server.url}/invite?${open.bob}`)).status).toBe(200); // bob's are his own
    expect((await cli(["invite", "revoke", "example.com", "--by", "alice"], { config: sb.config })).stderr).toContain("revoked 0 open invites");
    expect((await cli(["invite", "revoke", "example.com", "--by", "ghost"], { config: sb.config })).code).toBe(1);
    expect((await cli(["invite", "revoke", "example.com", "SOMEID", "--by", "alice"], { config: sb.config })).code).toBe(1);
    expect((await cli(["invite", "revoke", "example.com"], { config: sb.config })).code).toBe(1);
  });

  test("the JSON API: GET /api/v1/accounts/{user} with the tree, POST .../disable, scope account:manage, in the OpenAPI document", async () => {
    const doc = await openApiDocument(server.url);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/api/v1/accounts/{user}", "/api/v1/accounts/{user}/disable"]));
    const key = await createKeyWith(sb, scopeArgs(["account:manage"]));
    const weak = await createKeyWith(sb, scopeArgs(["invite:list"]));
    const otherHost = await createKeyWith(sb, scopeArgs(["account:manage"]), "other.org");
    const alice = await call(server.url, "GET", "/api/v1/accounts/ALICE", { key });
    expect(alice.status).toBe(200);
    expect(alice.body).toMatchObject({ username: "alice", invited_by: null, invite_creator: "cli" });
    expect(alice.body.tree.map((n: { username: string; depth: number }) => [n.username, n.depth])).toEqual([
      ["bob", 1],
      ["dave", 2],
      ["carol", 1],
    ]);
    expect((await call(server.url, "GET", "/api/v1/accounts/alice", { key: weak })).body.error.code).toBe("insufficient_scope");
    expect((await call(server.url, "GET", "/api/v1/accounts/alice", { key: otherHost })).status).toBe(404);
    expect((await call(server.url, "GET", "/api/v1/accounts/nobody", { key })).body.error.code).toBe("account_not_found");
    expect((await call(server.url, "GET", "/api/v1/accounts/a%40b", { key })).body.error.code).toBe("invalid_username");
    expect((await call(server.url, "GET", `/api/v1/accounts/${"x".repeat(2000)}`, { key })).status).toBe(400);
    expect((await call(server.url, "GET", "/api/v1/accounts/alice")).status).toBe(401);

    const carol = await signedIn(server, "carol@example.com", PW);
    const off = await call(server.url, "POST", "/api/v1/accounts/carol/disable", { key, body: {} });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ username: "carol", disabled: true, changed: true, sessions_ended: 1, invites_revoked: [] });
    expect((await carol.get("/account")).status).toBe(303);
    expect((await call(server.url, "POST", "/api/v1/accounts/carol/disable", { key, body: { reason: "spam invites" } })).body.changed).toBe(false);
    expect((await call(server.url, "POST", "/api/v1/accounts/carol/disable", { key: weak, body: {} })).status).toBe(403);
    expect((await call(server.url, "POST", "/api/v1/accounts/ghost/disable", { key, body: {} })).status).toBe(404);
    expect((await call(server.url, "POST", "/api/v1/accounts/carol/disable", { key, body: { reason: "x".repeat(201) } })).status).toBe(400);
    expect((await call(server.url, "POST", "/api/v1/accounts/carol/disable", { key, body: { reason: "a\u0000b" } })).status).toBe(400);
    expect((await call(server.url, "POST", "/api/v1/accounts/carol/disable", { key, body: { other: 1 } })).status).toBe(400);
    expect((await call(server.url, "POST", "/api/v1/accounts/carol/disable", { key, rawBody: "{}" })).status).toBe(415);
    const event = auditEvents(sb, "account.disabled").find((e) => e.user === "carol")!;
    expect(event.source).toBe("api");
    expect(query(sb, "SELECT disabled_at FROM accounts WHERE username = 'carol'")[0]).not.toEqual({ disabled_at: null });
  });
});
