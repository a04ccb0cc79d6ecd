import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { get, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { ALL_SCOPES, call, createKeyWith, scopeArgs } from "./api-helpers.ts";
import { makeAccount } from "./invite-helpers.ts";

let sb: Sandbox;
let server: TestServer;
let admin: string; // every scope
let url: string;

beforeAll(async () => {
  sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\ninvite_ttl = "7d"\napp_registration = true\n[hosts."other.org"]\npublic_url = "https://other.org"\n`);
  server = await startServer(sb);
  url = server.url;
  admin = await createKeyWith(sb, scopeArgs(ALL_SCOPES));
  for (const name of ["alice", "bob", "carol"]) await makeAccount(sb, server, name); // reset invites need an account
});
afterAll(async () => {
  await server.stop();
  sb.cleanup();
});

function db<T>(fn: (d: Database) => T): T {
  const d = new Database(sb.db, { readonly: true });
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

describe("POST /api/v1/invites", () => {
  test("answers 201 with id, url, xmpp_uri, expires_at, max_uses and a Location; the token is stored only hashed", async () => {
    const r = await call(url, "POST", "/api/v1/invites", { key: admin, body: { note: "for Alice", ttl: "2d", max_uses: 3 } });
    expect(r.status).toBe(201);
    const inv = r.body;
    expect(r.headers.get("location")).toBe(`/api/v1/invites/${inv.id}`);
    expect(inv.url).toBe(`https://example.com/invite?${inv.token}`);
    expect(inv.xmpp_uri).toBe(`xmpp:example.com?register;preauth=${inv.token}`);
    expect(inv.max_uses).toBe(3);
    expect(inv.uses).toBe(0);
    expect(inv.status).toBe("active");
    expect(inv.note).toBe("for Alice");
    expect(inv.created_by).toBe(`api/token/${admin.split("/")[0]}`);
    expect(Date.parse(inv.expires_at) - Date.parse(inv.created_at)).toBe(2 * 86_400_000);
    const leaked = db((d) => d.query("SELECT count(*) AS n FROM invites WHERE token_hash = ?1 OR data LIKE ?2 OR note LIKE ?2").get(inv.token, `%${inv.token}%`) as { n: number });
    expect(leaked.n).toBe(0);
    // The Location leads to the record.
    const shown = await call(url, "GET", r.headers.get("location")!, { key: admin });
    expect(shown.status).toBe(200);
    expect(shown.body.id).toBe(inv.id);
  });

  test("defaults: one use, the host's invite_ttl; {} is enough; ttl in whole seconds; null max_uses is unlimited", async () => {
    const r = await call(url, "POST", "/api/v1/invites", { key: admin, body: {} });
    expect(r.status).toBe(201);
    expect(r.body.max_uses).toBe(1);
    expect(Date.parse(r.body.expires_at) - Date.parse(r.body.created_at)).toBe(7 * 86_400_000);
    const secs = await call(url, "POST", "/api/v1/invites", { key: admin, body: { ttl: 90, max_uses: null } });
    expect(secs.status).toBe(201);
    expect(Date.parse(secs.body.expires_at) - Date.parse(secs.body.created_at)).toBe(90_000);
    expect(secs.body.max_uses).toBeNull();
  });

  test("reset invites need a username and scope invite:create:reset; groups/roles need invite:create:group", async () => {
    const reset = await call(url, "POST", "/api/v1/invites", { key: admin, body: { kind: "reset", username: "Alice" } });
    expect(reset.status).toBe(201);
    expect(reset.body.kind).toBe("reset");
    expect(reset.body.username).toBe("alice"); // normalised
    const noUser = await call(url, "POST", "/api/v1/invites", { key: admin, body: { kind: "reset" } });
    expect(noUser.status).toBe(422);
    expect(noUser.body.error.code).toBe("invalid_username");
    // A reset for an account that does not exist is refused now, not when someone tries to use it.
    const nobody = await call(url, "POST", "/api/v1/invites", { key: admin, body: { kind: "reset", username: "nobody" } });
    expect(nobody.status).toBe(422);
    expect(nobody.body.error).toMatchObject({ code: "account_missing", message: "no account 'nobody' on example.com" });
    const grouped = await call(url, "POST", "/api/v1/invites", { key: admin, body: { groups: ["friends"], roles: ["prosody:registered"] } });
    expect(grouped.status).toBe(201);
    expect(grouped.body.groups).toEqual(["friends"]);
    expect(grouped.body.roles).toEqual(["prosody:registered"]);

    const plain = await createKeyWith(sb, ["--scope", "invite:create"]);
    for (const body of [{ kind: "reset", username: "alice" }, { groups: ["x"] }, { roles: ["x"] }]) {
      const r = await call(url, "POST", "/api/v1/invites", { key: plain, body });
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe("insufficient_scope");
    }
    expect((await call(url, "POST", "/api/v1/invites", { key: plain, body: { groups: [], roles: [] } })).status).toBe(201);
    const resetOnly = await createKeyWith(sb, ["--scope", "invite:create", "--scope", "invite:create:reset"]);
    expect((await call(url, "POST", "/api/v1/invites", { key: resetOnly, body: { kind: "reset", username: "bob" } })).status).toBe(201);
    const groupOnly = await createKeyWith(sb, ["--scope", "invite:create", "--scope", "invite:create:group"]);
    expect((await call(url, "POST", "/api/v1/invites", { key: groupOnly, body: { groups: ["g"] } })).status).toBe(201);
  });

  test("host limits: a ttl above invite_max_ttl is 422 ttl_too_long; under 1s is 422 invalid_ttl; bad usernames 422", async () => {
    const long = await call(url, "POST", "/api/v1/invites", { key: admin, body: { ttl: "31d" } });
    expect(long.status).toBe(422);
    expect(long.body.error.code).toBe("ttl_too_long");
    const short = await call(url, "POST", "/api/v1/invites", { key: admin, body: { ttl: "500ms" } });
    expect(short.status).toBe(422);
    expect(short.body.error.code).toBe("invalid_ttl");
    for (const ttl of [0, "0s", "0d0h"]) {
      const zero = await call(url, "POST", "/api/v1/invites", { key: admin, body: { ttl } });
      expect({ ttl, status: zero.status, code: zero.body.error.code }).toEqual({ ttl, status: 422, code: "invalid_ttl" });
    }
    // A lone surrogate would be stored as U+FFFD, unlike the note the caller sent; a real pair is fine.
    const lone = await call(url, "POST", "/api/v1/invites", { key: admin, body: { note: "bad \ud800 note" } });
    expect({ status: lone.status, code: lone.body.error?.code }).toEqual({ status: 422, code: "invalid_note" });
    const emoji = await call(url, "POST", "/api/v1/invites", { key: admin, body: { note: "party \ud83c\udf89" } });
    expect(emoji.status).toBe(201);
    expect(emoji.body.note).toBe("party 🎉");
    for (const username of ["a b", "x@y", "a/b", "<script>"]) {
      const r = await call(url, "POST", "/api/v1/invites", { key: admin, body: { username } });
      expect(r.status).toBe(422);
      expect(r.body.error.code).toBe("invalid_username");
      expect(r.body.error.message).toBe("username contains spaces, symbols, control characters or forbidden characters (@ / : \" ' & < >)");
    }
  });
});

describe("key ceilings (--max-ttl, --max-uses)", () => {
  test("are enforced with 403 and clear codes; defaults are cut to the ceiling", async () => {
    const capped = await createKeyWith(sb, ["--scope", "invite:create", "--scope", "invite:create:reset", "--max-ttl", "1h", "--max-uses", "5"]);
    const tooLong = await call(url, "POST", "/api/v1/invites", { key: capped, body: { ttl: "2h" } });
    expect(tooLong.status).toBe(403);
    expect(tooLong.body.error.code).toBe("ttl_above_key_limit");
    const tooMany = await call(url, "POST", "/api/v1/invites", { key: capped, body: { max_uses: 6 } });
    expect(tooMany.status).toBe(403);
    expect(tooMany.body.error.code).toBe("max_uses_above_key_limit");
    const unlimited = await call(url, "POST", "/api/v1/invites", { key: capped, body: { max_uses: null } });
    expect(unlimited.status).toBe(403);
    expect(unlimited.body.error.code).toBe("max_uses_above_key_limit");

    const atLimit = await call(url, "POST", "/api/v1/invites", { key: capped, body: { ttl: "1h", max_uses: 5 } });
    expect(atLimit.status).toBe(201);
    expect(atLimit.body.max_uses).toBe(5);
    const byDefault = await call(url, "POST", "/api/v1/invites", { key: capped, body: {} });
    expect(byDefault.status).toBe(201);
    expect(Date.parse(byDefault.body.expires_at) - Date.parse(byDefault.body.created_at)).toBe(3_600_000);
    const resetDefault = await call(url, "POST", "/api/v1/invites", { key: capped, body: { kind: "reset", username: "carol" } });
    expect(Date.parse(resetDefault.body.expires_at) - Date.parse(resetDefault.body.created_at)).toBe(3_600_000);

    // /invites_api mints the host default, cut to the key's max_ttl.
    const legacy = await get(`${url}/invites_api`, { headers: { Authorization: `Bearer ${capped}`, Accept: "application/json" } });
    expect(legacy.status).toBe(201);
    const body: any = await legacy.json();
    expect(Date.parse(body.expires_at) - Date.parse(body.created_at)).toBe(3_600_000);
  });
});

describe("scopes: each route refuses a key without its scope and accepts one with it", () => {
  test("every route", async () => {
    const seed = await call(url, "POST", "/api/v1/invites", { key: admin, body: { max_uses: 10 } });
    const id = seed.body.id;
    const token = seed.body.token;
    const routes: [string, string, string, unknown?][] = [
      ["invite:create", "POST", "/api/v1/invites", {}],
      ["invite:list", "GET", "/api/v1/invites"],
      ["invite:list", "GET", `/api/v1/invites/${id}`],
      ["invite:redeem", "POST", "/api/v1/invites/redeem", { token, username: "scopetest" }],
      ["invite:revoke", "DELETE", `/api/v1/invites/${id}`],
      ["audit:read", "GET", "/api/v1/audit"],
    ];
    for (const [scope, method, path, body] of routes) {
      const others = ALL_SCOPES.filter((s) => s !== scope);
      const without = await createKeyWith(sb, scopeArgs(others));
      const refused = await call(url, method, path, { key: without, body });
      expect(`${scope} ${refused.status} ${refused.body.error?.code}`).toBe(`${scope} 403 insufficient_scope`);
      expect(refused.body.error.message).toContain(scope);
      const withIt = await createKeyWith(sb, ["--scope", scope]);
      const allowed = await call(url, method, path, { key: withIt, body });
      expect(`${scope} ${allowed.status}`).toMatch(new RegExp(`^${scope} 20[01]$`));
    }
  });

  test("/invites_api needs invite:create (the default scope)", async () => {
    const listOnly = await createKeyWith(sb, ["--scope", "invite:list"]);
    const r = await get(`${url}/invites_api`, { headers: { Authorization: `Bearer ${listOnly}` } });
    expect(r.status).toBe(403);
    expect(r.headers.get("location")).toBeNull();
    const byDefault = await createKeyWith(sb);
    expect((await get(`${url}/invites_api`, { headers: { Authorization: `Bearer ${byDefault}` } })).status).toBe(201);
  });

  test("a key of one host never sees another host's invites", async () => {
    const other = await createKeyWith(sb, scopeArgs(ALL_SCOPES), "other.org");
    const mine = await call(url, "POST", "/api/v1/invites", { key: admin, body: {} });
    expect((await call(url, "GET", `/api/v1/invites/${mine.body.id}`, { key: other })).status).toBe(404);
    expect((await call(url, "DELETE", `/api/v1/invites/${mine.body.id}`, { key: other })).status).toBe(404);
    const redeem = await call(url, "POST", "/api/v1/invites/redeem", { key: other, body: { token: mine.body.token, username: "eve" } });
    expect(redeem.status).toBe(404);
    expect(redeem.body.error.code).toBe("invite_not_found");
    const list = await call(url, "GET", "/api/v1/invites?limit=1000", { key: other });
    expect(list.body.invites.every((i: { host: string }) => i.host === "other.org")).toBe(true);
  });
});

describe("GET /api/v1/invites", () => {
  test("pagination is stable while invites are created between pages", async () => {
    const s2 = sandbox();
    const srv = await startServer(s2);
    try {
      const key = await createKeyWith(s2, scopeArgs(ALL_SCOPES));
      const created: string[] = [];
      for (let i = 0; i < 25; i++) created.push((await call(srv.url, "POST", "/api/v1/invites", { key, body: { note: `n${i}` } })).body.id);
      // The order of one big page before anything changes (newest first; same-millisecond ties by id).
      const snapshot = (await call(srv.url, "GET", "/api/v1/invites?limit=1000", { key })).body.invites.map((i: { id: string }) => i.id);
      expect(new Set(snapshot)).toEqual(new Set(created));
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { body: { invites: { id: string }[]; next: string | null } } = await call(srv.url, "GET", `/api/v1/invites?limit=7${cursor ? `&cursor=${cursor}` : ""}`, { key });
        seen.push(...page.body.invites.map((i) => i.id));
        cursor = page.body.next;
        pages++;
        // Newer invites arrive while we page; they must not shift or repeat what follows.
        await call(srv.url, "POST", "/api/v1/invites", { key, body: { note: "late" } });
        await call(srv.url, "POST", "/api/v1/invites", { key, body: { note: "late" } });
      } while (cursor);
      expect(pages).toBe(4);
      expect(seen).toEqual(snapshot);
      expect(new Set(seen).size).toBe(25);
    } finally {
      await srv.stop();
      s2.cleanup();
    }
  });

  test("status and kind filters", async () => {
    const active = await call(url, "POST", "/api/v1/invites", { key: admin, body: { note: "f-active" } });
    const revoked = await call(url, "POST", "/api/v1/invites", { key: admin, body: { note: "f-revoked" } });
    await call(url, "DELETE", `/api/v1/invites/${revoked.body.id}`, { key: admin });
    const reset = await call(url, "POST", "/api/v1/invites", { key: admin, body: { kind: "reset", username: "alice" } });

    const ids = async (q: string) => (await call(url, "GET", `/api/v1/invites?limit=1000&${q}`, { key: admin })).body.invites.map((i: { id: string }) => i.id);
    const rev = await ids("status=revoked");
    expect(rev).toContain(revoked.body.id);
    expect(rev).not.toContain(active.body.id);
    const act = await ids("status=active");
    expect(act).toContain(active.body.id);
    expect(act).not.toContain(revoked.body.id);
    const resets = await ids("kind=reset");
    expect(resets).toContain(reset.body.id);
    expect(resets).not.toContain(active.body.id);
    expect(await ids("kind=reset&status=revoked")).not.toContain(reset.body.id);
  });

  test("a forged cursor is 400 invalid_cursor", async () => {
    for (const c of ["zzz", "MTIz", Buffer.from("1:../../x").toString("base64url"), "%00"]) {
      const r = await call(url, "GET", `/api/v1/invites?cursor=${c}`, { key: admin });
      expect(r.status).toBe(400);
      expect(["invalid_cursor", "invalid_request"]).toContain(r.body.error.code);
    }
  });
});

describe("GET and DELETE /api/v1/invites/:id", () => {
  test("shows status, uses and the ledger; DELETE revokes and is idempotent", async () => {
    const inv = (await call(url, "POST", "/api/v1/invites", { key: admin, body: { max_uses: 2 } })).body;
    await call(url, "POST", "/api/v1/invites/redeem", { key: admin, body: { token: inv.token, username: "erin" } });
    const shown = await call(url, "GET", `/api/v1/invites/${inv.id}`, { key: admin });
    expect(shown.body.uses).toBe(1);
    expect(shown.body.status).toBe("active");
    expect(shown.body.redemptions).toHaveLength(1);
    expect(shown.body.redemptions[0].username).toBe("erin");
    expect(shown.body.redemptions[0].source).toBe("api");

    const first = await call(url, "DELETE", `/api/v1/invites/${inv.id}`, { key: admin });
    expect(first.status).toBe(200);
    expect(first.body.status).toBe("revoked");
    const again = await call(url, "DELETE", `/api/v1/invites/${inv.id}`, { key: admin });
    expect(again.status).toBe(200);
    expect(again.body.revoked_at).toBe(first.body.revoked_at);
    const events = db((d) => d.query("SELECT count(*) AS n FROM audit_events WHERE type = 'invite.revoked' AND details LIKE ?").get(`%${inv.id}%`) as { n: number });
    expect(events.n).toBe(1);
    // A revoked invite cannot be redeemed any more.
    const late = await call(url, "POST", "/api/v1/invites/redeem", { key: admin, body: { token: inv.token, username: "frank" } });
    expect(late.status).toBe(410);
    expect(late.body.error.code).toBe("invite_revoked");
    expect((await call(url, "DELETE", "/api/v1/invites/NoSuchInvite", { key: admin })).status).toBe(404);
    expect((await call(url, "GET", "/api/v1/invites/NoSuchInvite", { key: admin })).body.error.code).toBe("invite_not_found");
  });
});

describe("POST /api/v1/invites/redeem", () => {
  test("concurrent redeem calls on a single-use token: exactly one wins", async () => {
    const inv = (await call(url, "POST", "/api/v1/invites", { key: admin, body: {} })).body;
    const results = await Promise.all(
      Array.from({ length: 25 }, (_, i) => call(url, "POST", "/api/v1/invites/redeem", { key: admin, body: { token: inv.token, username: `racer${i}` } })),
    );
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    expect(results.filter((r) => r.status === 409 && r.body.error.code === "invite_used")).toHaveLength(24);
    expect(winners[0]!.body.invite.uses).toBe(1);
    expect(winners[0]!.body.invite.status).toBe("used");
    const ledger = db((d) => d.query("SELECT username FROM redemptions WHERE invite_id = ?").all(inv.id) as { username: string }[]);
    expect(ledger).toEqual([{ username: winners[0]!.body.username }]);
  });

  test("a multi-use invite gives exactly max_uses wins under concurrency", async () => {
    const inv = (await call(url, "POST", "/api/v1/invites", { key: admin, body: { max_uses: 3 } })).body;
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => call(url, "POST", "/api/v1/invites/redeem", { key: admin, body: { token: inv.token, username: `multi${i}` } })),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(3);
    expect(results.filter((r) => r.status === 409)).toHaveLength(9);
  });

  test("bound usernames, expired and unknown tokens", async () => {
    const bound = (await call(url, "POST", "/api/v1/invites", { key: admin, body: { username: "grace" } })).body;
    const wrong = await call(url, "POST", "/api/v1/invites/redeem", { key: admin, body: { token: bound.token, username: "mallory" } });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.code).toBe("username_mismatch");
    const right = await call(url, "POST", "/api/v1/invites/redeem", { key: admin, body: { token: bound.token, username: "Grace" } });
    expect(right.status).toBe(200);
    expect(right.body.username).toBe("grace");

    const short = (await call(url, "POST", "/api/v1/invites", { key: admin, body: { ttl: 1 } })).body;
    await Bun.sleep(1100);
    const expired = await call(url, "POST", "/api/v1/invites/redeem", { key: admin, body: { token: short.token, username: "heidi" } });
    expect(expired.status).toBe(410);
    expect(expired.body.error.code).toBe("invite_expired");

    for (const token of ["nosuchtoken", "x".repeat(256), "../../etc", "a b", "\u0000"]) {
      const r = await call(url, "POST", "/api/v1/invites/redeem", { key: admin, body: { token, username: "ivan" } });
      expect(r.status).toBe(404);
      expect(r.body.error.code).toBe("invite_not_found");
    }
    const badName = await call(url, "POST", "/api/v1/invites/redeem", { key: admin, body: { token: bound.token, username: "a@b" } });
    expect(badName.status).toBe(422);
    expect(badName.body.error.code).toBe("invalid_username");
  });
});

describe("/invites_api with Accept: application/json", () => {
  test("describes the new invite as JSON; without the header the body stays empty", async () => {
    const key = await createKeyWith(sb);
    const r = await get(`${url}/invites_api`, { headers: { Authorization: `Bearer ${key}`, Accept: "application/json" } });
    expect(r.status).toBe(201);
    expect(r.headers.get("content-type")).toMatch(/^application\/json/);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    const body: any = await r.json();
    expect(r.headers.get("location")).toBe(body.url);
    expect(body.url).toBe(`https://example.com/invite?${body.token}`);
    expect(body.xmpp_uri).toBe(`xmpp:example.com?register;preauth=${body.token}`);
    expect(body.max_uses).toBe(1);
    expect(body.kind).toBe("account");
    expect(typeof body.id).toBe("string");
    expect(Date.parse(body.expires_at) - Date.parse(body.created_at)).toBe(7 * 86_400_000);

    const redirect = await get(`${url}/invites_api?redirect=1`, { headers: { Authorization: `Bearer ${key}`, Accept: "application/json" } });
    expect(redirect.status).toBe(303);
    expect(((await redirect.json()) as any).url).toBe(redirect.headers.get("location"));

    const plain = await get(`${url}/invites_api`, { headers: { Authorization: `Bearer ${key}`, Accept: "text/html,*/*" } });
    expect(plain.status).toBe(201);
    expect(await plain.text()).toBe("");
    const none = await get(`${url}/invites_api?key=${key}`);
    expect(await none.text()).toBe("");
  });
});
