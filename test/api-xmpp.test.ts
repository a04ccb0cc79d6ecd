// /api/v1/xmpp (what mod_invited calls), at the API level: scope, the client address field, bad input, the
// reservation rules, idempotent and late commits, races. The end-to-end flow with Prosody is prosody-module.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cli, get, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { call, createKeyWith, scopeArgs } from "./api-helpers.ts";
import { auditEvents, createInvite, inviteRow, query } from "./invite-helpers.ts";

let sb: Sandbox;
let server: TestServer;
let url: string;
let xmpp: string; // invite:xmpp only
let other: string; // every other scope

beforeAll(async () => {
  // The registration throttle has a test of its own below; here many reserves come from one address.
  sb = sandbox(`[limits]\nregistration_rate = "off"\n[hosts."example.com"]\npublic_url = "https://example.com"\nprosody_roles = ["support"]\n[hosts."other.org"]\npublic_url = "https://other.org"\napp_registration = false\n`);
  server = await startServer(sb);
  url = server.url;
  xmpp = await createKeyWith(sb, scopeArgs(["invite:xmpp"]));
  other = await createKeyWith(sb, scopeArgs(["invite:create", "invite:create:reset", "invite:create:group", "invite:list", "invite:revoke", "invite:redeem", "audit:read"]));
});
afterAll(async () => {
  await server.stop();
  sb.cleanup();
});

const post = (path: string, body: unknown, opts: { key?: string; ip?: string } = {}) => call(url, "POST", `/api/v1/xmpp/${path}`, { key: opts.key ?? xmpp, body, ip: opts.ip });
const reserve = (token: string, username: string, exists = false, ip = "203.0.113.9") => post("reserve", { token, username, exists, ip });

describe("/api/v1/xmpp", () => {
  test("every call needs the invite:xmpp scope; a key of another host does not see this host's invites", async () => {
    const invite = await createInvite(sb);
    for (const [path, body] of [
      ["check", { token: invite.token }],
      ["reserve", { token: invite.token, username: "a", exists: false }],
      ["commit", { reservation: { id: 1, invite_id: invite.id, username: "a", kind: "account", reserved_at: 0 } }],
      ["release", { reservation: { id: 1, invite_id: invite.id } }],
    ] as const) {
      const r = await post(path, body, { key: other });
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe("insufficient_scope");
    }
    const elsewhere = await createKeyWith(sb, scopeArgs(["invite:xmpp"]), "other.org");
    expect((await post("check", { token: invite.token }, { key: elsewhere })).status).toBe(404);
    expect((await post("check", { token: invite.token })).status).toBe(200);
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
  });

  test("check is read-only and answers the kind, the bound name and only the roles prosody_roles allows", async () => {
    const invite = await createInvite(sb, ["--username", "zoe", "--role", "support", "--role", "prosody:admin", "--role", "x"]);
    for (let i = 0; i < 3; i++) {
      const r = await post("check", { token: invite.token });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ invite_id: invite.id, kind: "account", username: "zoe", roles: ["support"] });
    }
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
  });

  test("bad input is a 4xx: empty, huge, junk and invisible-Unicode tokens and names, a bad ip, extra fields, wrong types", async () => {
    const invite = await createInvite(sb);
    const cases: [string, unknown, number][] = [
      ["check", {}, 400],
      ["check", { token: "" }, 400],
      ["check", { token: "x".repeat(10_000) }, 400],
      ["check", { token: `${invite.token}\u200b` }, 404],
      ["check", { token: invite.token, ip: "not an address" }, 400],
      ["check", { token: invite.token, ip: 7 }, 400],
      ["check", { token: invite.token, extra: 1 }, 400],
      ["reserve", { token: invite.token, username: "alice" }, 400],
      ["reserve", { token: invite.token, username: "", exists: false }, 400],
      ["reserve", { token: invite.token, username: "x".repeat(5000), exists: false }, 400],
      ["reserve", { token: invite.token, username: "al\u200bice", exists: false }, 422],
      ["reserve", { token: invite.token, username: "Alice", exists: false }, 422], // not as Prosody normalises it
      ["reserve", { token: invite.token, username: "a b", exists: false }, 422],
      ["reserve", { token: invite.token, username: "x".repeat(65), exists: false }, 422],
      ["reserve", { token: invite.token, username: "alice", exists: "no" }, 400],
      ["commit", { reservation: { id: -1, invite_id: invite.id, username: "a", kind: "account", reserved_at: 0 } }, 400],
      ["commit", { reservation: { id: 1, invite_id: "../x", username: "a", kind: "account", reserved_at: 0 } }, 400],
      ["commit", { reservation: { id: 1, invite_id: invite.id, username: "a", kind: "admin", reserved_at: 0 } }, 400],
      ["commit", { reservation: { id: 1, invite_id: "nosuchinvite", username: "a", kind: "account", reserved_at: 0 } }, 404],
      ["release", { reservation: {} }, 400],
    ];
    for (const [path, body, status] of cases) {
      const r = await post(path, body);
      expect(`${path} ${JSON.stringify(body).slice(0, 80)} -> ${r.status}`).toBe(`${path} ${JSON.stringify(body).slice(0, 80)} -> ${status}`);
    }
    const junk = await call(url, "POST", "/api/v1/xmpp/check", { key: xmpp, rawBody: "{not json", headers: { "Content-Type": "application/json" } });
    expect(junk.status).toBe(400);
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
  });

  test("reserve refuses what stock Prosody does not check; the reason is the answer's code", async () => {
    const bound = await createInvite(sb, ["--username", "yara"]);
    expect((await reserve(bound.token, "yves")).body.error.code).toBe("username_mismatch");
    const free = await createInvite(sb);
    expect((await reserve(free.token, "taken", true)).body.error.code).toBe("username_taken"); // Prosody has it
    const r = await reserve(free.token, "wanda");
    expect(r.status).toBe(200);
    expect(r.body.reservation).toMatchObject({ invite_id: free.id, username: "wanda", kind: "account" });
    expect(r.body.reservation.expires_at - r.body.reservation.reserved_at).toBe(600_000); // beyond Prosody's 300 s
    // The one use is held: another name on it is busy; the same name on another invite is taken (in flight).
    expect((await reserve(free.token, "xena")).body.error.code).toBe("invite_busy");
    expect((await reserve((await createInvite(sb)).token, "wanda")).body.error.code).toBe("username_taken");
    expect(inviteRow(sb, free.id)).toMatchObject({ uses: 0, reserved: 1 });
    expect((await post("release", { reservation: r.body.reservation })).body).toEqual({ released: true });
    expect((await post("release", { reservation: r.body.reservation })).body).toEqual({ released: false });
    expect(inviteRow(sb, free.id)).toMatchObject({ uses: 0, reserved: 0 });
  });

  test("commit records the account (no hash), the ledger row and both events at the client's address; repeating it changes nothing", async () => {
    const invite = await createInvite(sb, ["--uses", "2"]);
    const r = await reserve(invite.token, "quinn", false, "2001:db8::7");
    const first = await post("commit", { reservation: r.body.reservation, ip: "2001:db8::7" }, { ip: "198.51.100.1" });
    expect(first.body).toEqual({ already: false, late: false });
    const again = await post("commit", { reservation: r.body.reservation, ip: "2001:db8::7" });
    expect(again.body).toEqual({ already: true, late: false });
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });
    expect(query(sb, "SELECT username, password_hash FROM accounts WHERE invite_id = ?", invite.id)).toEqual([{ username: "quinn", password_hash: null }]);
    expect(query(sb, "SELECT source FROM redemptions WHERE invite_id = ?", invite.id)).toEqual([{ source: "xmpp" }]);
    for (const type of ["invite.used", "account.registered"]) {
      const events = auditEvents(sb, type).filter((e) => e.user === "quinn");
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ source: "xmpp", ip: "2001:db8::7" }); // the client's, not the caller's
    }
  });

  test("a commit after the reservation was released, on an invite that has expired meanwhile, is still recorded (late)", async () => {
    const invite = await createInvite(sb, ["--ttl", "2s"]);
    const r = await reserve(invite.token, "rhea");
    await post("release", { reservation: r.body.reservation });
    await Bun.sleep(2100);
    const late = await post("commit", { reservation: r.body.reservation });
    expect(late.body).toEqual({ already: false, late: true });
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });
    expect(query(sb, "SELECT username FROM accounts WHERE invite_id = ?", invite.id)).toEqual([{ username: "rhea" }]);
    expect((await post("commit", { reservation: r.body.reservation })).body).toEqual({ already: true, late: false });
  });

  test("20 concurrent reserves with distinct names on a one-use invite: exactly one holds it", async () => {
    const invite = await createInvite(sb);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => reserve(invite.token, `racer${i}`)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    for (const a of answers.filter((a) => a.status !== 200)) expect(a.body.error.code).toBe("invite_busy");
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 1 });
  });
});

describe("app_registration: the app button, the Link header and xmpp_uri follow the reports of mod_invited", () => {
  const landing = async (token: string) => {
    const r = await get(`${url}/invite?${token}`);
    expect(r.status).toBe(200);
    return { link: r.headers.get("link"), page: await r.text() };
  };
  const mint = async (body: object = {}) => (await call(url, "POST", "/api/v1/invites", { key: other, body })).body;
  const check = async () => {
    const r = await cli(["check", "--json"], { config: sb.config });
    return JSON.parse(r.stdout).checks.find((c: { name: string }) => c.name === "prosody example.com");
  };

  test("auto: nothing offered before a report, offered after it (bound names in the link), hidden again once it is a day old", async () => {
    const before = await mint();
    expect(before.xmpp_uri).toBeNull();
    const page = await landing(before.token);
    expect(page.link).toBeNull();
    expect(page.page).not.toContain("Open invite in my app");
    expect(page.page).not.toContain("xmpp:");
    expect(page.page).toContain(`<a class="btn" href="./register?t=${before.token}">Create account on the web</a>`);
    expect(await check()).toMatchObject({ status: "ok", detail: expect.stringContaining("never reported") });

    const report = await post("report", { prosody_version: "0.12.3", module_version: "1" });
    expect(report.body).toEqual({ app_registration: "auto", offered: true });
    expect((await post("report", { prosody_version: "0.12.3 with spaces" })).status).toBe(400);
    const after = await landing(before.token);
    expect(after.link).toBe(`<xmpp:example.com?register;preauth=${before.token}>; rel="alternate"`);
    expect(after.page).toContain("Open invite in my app");
    const bound = await mint({ username: "Zed" });
    expect(bound.xmpp_uri).toBe(`xmpp:zed@example.com?register;preauth=${bound.token}`);
    expect((await landing(bound.token)).page).toContain(`href="xmpp:zed@example.com?register;preauth=${bound.token}"`);
    expect(await check()).toMatchObject({ status: "ok", detail: expect.stringMatching(/last reported \d+s ago \(Prosody 0\.12\.3, mod_invited 1\); the app button and xmpp: links are offered/) });

    const db = new Database(sb.db);
    try {
      db.exec("PRAGMA busy_timeout = 5000");
      db.query("UPDATE prosody_reports SET reported_at = ? WHERE host = 'example.com'").run(Date.now() - 25 * 3_600_000);
    } finally {
      db.close();
    }
    expect((await landing(before.token)).link).toBeNull();
    expect((await mint()).xmpp_uri).toBeNull();
    expect(await check()).toMatchObject({ status: "warn", detail: expect.stringContaining("last reported 25h ago") });
  });

  test("false: never offered, even right after a report", async () => {
    const otherXmpp = await createKeyWith(sb, scopeArgs(["invite:xmpp"]), "other.org");
    const minter = await createKeyWith(sb, scopeArgs(["invite:create"]), "other.org");
    expect((await post("report", {}, { key: otherXmpp })).body).toEqual({ app_registration: false, offered: false });
    const invite = (await call(url, "POST", "/api/v1/invites", { key: minter, body: {} })).body;
    expect(invite.xmpp_uri).toBeNull();
    expect((await landing(invite.token)).link).toBeNull();
  });

  test("config: app_registration is auto, true or false; prosody_roles never holds prosody:admin", async () => {
    for (const [line, message] of [
      ['app_registration = "yes"', /'hosts\."example\.com"\.app_registration' must be "auto", true or false/],
      ['prosody_roles = ["prosody:admin"]', /'hosts\."example\.com"\.prosody_roles' must not contain "prosody:admin"/],
      ['prosody_roles = ["a b"]', /invalid role name/],
    ] as const) {
      const box = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n${line}\n`);
      try {
        const r = await cli(["invite", "list", "example.com"], { config: box.config });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
      } finally {
        box.cleanup();
      }
    }
  });
});

describe("the registration throttle uses the client's address from the module", () => {
  test("over [limits] registration_rate per client network: 429 too_many_registrations with Retry-After, audited; another client is not affected", async () => {
    const box = sandbox(`[limits]\nregistration_rate = "2/hour"\n[hosts."example.com"]\npublic_url = "https://example.com"\n`);
    const s = await startServer(box);
    try {
      const key = await createKeyWith(box, scopeArgs(["invite:xmpp"]));
      const invite = await createInvite(box, ["--unlimited"]);
      const at = (username: string, ip: string) => call(s.url, "POST", "/api/v1/xmpp/reserve", { key, body: { token: invite.token, username, exists: false, ip } });
      expect((await at("one", "203.0.113.1")).status).toBe(200);
      expect((await at("two", "203.0.113.1")).status).toBe(200);
      const third = await at("three", "203.0.113.1");
      expect(third.status).toBe(429);
      expect(third.body.error.code).toBe("too_many_registrations");
      expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
      expect((await at("four", "198.51.100.4")).status).toBe(200); // all calls come from 127.0.0.1; the bucket is the client's
      await s.stop(); // refusals are coalesced; stopping writes them
      const refused = auditEvents(box, "registration.refused").map((e) => ({ reason: JSON.parse(e.details).reason, ip: e.ip, source: e.source }));
      expect(refused).toContainEqual({ reason: "throttled", ip: expect.stringMatching(/^203\.0\.113\./), source: "xmpp" });
    } finally {
      await s.stop();
      box.cleanup();
    }
  });
});
