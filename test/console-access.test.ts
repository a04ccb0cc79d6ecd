// Who gets into the admin console (issue 18, requirements 1 and 5), over real HTTP with the real CLI: role admin only
// from `invited user role` (audited) or the console, never from an invite or a key; TOTP enrolled from the shell,
// asked at sign-in, single-use and throttled; admin_allow; csrf and Origin on every POST. Each refusal changes nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { cli, sandbox, startServer, writeConfig, type Sandbox, type TestServer } from "./helpers.ts";
import { auditEvents, makeAccount, query } from "./invite-helpers.ts";
import { Browser, ORIGIN, signedIn } from "./account-helpers.ts";
import { call, createKeyWith, scopeArgs } from "./api-helpers.ts";
import { PW, adminBrowser, enrolTotp, makeAdmin, signInWithTotp, totpOf } from "./console-helpers.ts";

const LIMITS = `[limits]\nsignin_rate = "off"\nsignin_account_rate = "off"\n`;
const inviteCount = (sb: Sandbox) => query<{ n: number }>(sb, "SELECT count(*) AS n FROM invites")[0]!.n;

describe("console access", () => {
  let sb: Sandbox;
  let server: TestServer;
  let adaUri: string;
  let ada: Browser;

  beforeAll(async () => {
    sb = sandbox(LIMITS);
    server = await startServer(sb);
    adaUri = await makeAdmin(sb, server, "ada");
    ada = await adminBrowser(server, "ada", adaUri);
    await makeAccount(sb, server, "mel", PW); // a member, no role
  });
  afterAll(async () => {
    await server?.stop();
    sb?.cleanup();
  });

  test("user role add/remove: audited from the CLI; list and show name the role", async () => {
    const add = await cli(["user", "role", "add", "example.com", "mel", "helper"], { config: sb.config });
    expect(add.code).toBe(0);
    expect(add.stderr).toContain("role added");
    expect((await cli(["user", "role", "add", "example.com", "mel", "helper"], { config: sb.config })).stderr).toContain("already has");
    const rm = await cli(["user", "role", "remove", "example.com", "mel", "helper"], { config: sb.config });
    expect(rm.code).toBe(0);
    const events = auditEvents(sb).filter((e) => e.type.startsWith("account.role_") && e.user === "mel");
    expect(events.map((e) => [e.type, e.source])).toEqual([["account.role_added", "cli"], ["account.role_removed", "cli"]]);
    expect((await cli(["user", "role", "add", "example.com", "nobody", "admin"], { config: sb.config })).code).toBe(1);
    expect((await cli(["user", "role", "add", "example.com", "mel", "has space"], { config: sb.config })).code).toBe(1);
    const ada_ = await cli(["user", "show", "example.com", "ada", "--json"], { config: sb.config });
    expect(JSON.parse(ada_.stdout).roles).toEqual(["admin"]);
  });

  test("user totp: prints an otpauth:// URI and a terminal QR once; the secret is stored encrypted, never in clear", async () => {
    await makeAccount(sb, server, "tess", PW);
    const r = await cli(["user", "totp", "example.com", "tess"], { config: sb.config });
    expect(r.code).toBe(0);
    const uri = /otpauth:\/\/totp\/\S+/.exec(r.stdout)![0];
    const secret = new URL(uri).searchParams.get("secret")!;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(r.stdout).toMatch(/[█▀▄]/); // the QR code, drawn with block characters
    const row = query<{ totp_secret: string }>(sb, "SELECT totp_secret FROM accounts WHERE username = 'tess'")[0]!;
    expect(row.totp_secret.startsWith("v1.")).toBe(true);
    expect(row.totp_secret).not.toContain(secret);
    expect(readFileSync(sb.db, "latin1")).not.toContain(secret);
    expect(statSync(`${sb.db}.totp-key`).mode & 0o777).toBe(0o600);
    // Again without --replace: refused, the old secret stays.
    const again = await cli(["user", "totp", "example.com", "tess"], { config: sb.config });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("--replace");
    expect(query<{ totp_secret: string }>(sb, "SELECT totp_secret FROM accounts WHERE username = 'tess'")[0]!.totp_secret).toBe(row.totp_secret);
    expect(auditEvents(sb, "account.totp_enrolled").filter((e) => e.user === "tess")).toHaveLength(1);
    expect((await cli(["user", "totp", "example.com", "ghost"], { config: sb.config })).code).toBe(1);
  });

  test("not signed in: pages send to sign-in, POSTs change nothing", async () => {
    const b = new Browser(server);
    for (const p of ["/admin", "/admin/map", "/admin/invites", "/admin/accounts", "/admin/keys", "/admin/audit", "/admin/outbox", "/admin/audit/export.csv"]) {
      const r = await b.get(p);
      expect(r.status).toBe(303);
      expect(r.location).toContain("account/login");
    }
    const before = inviteCount(sb);
    const r = await b.post("/admin/invites", {}, { csrf: "x" });
    expect(r.status).toBe(303);
    expect(inviteCount(sb)).toBe(before);
  });

  test("signed in without the admin role: 403 on every page and POST, nothing changes", async () => {
    const mel = await signedIn(server, "mel@example.com", PW);
    for (const p of ["/admin", "/admin/invites", "/admin/keys", "/admin/audit/export.csv"]) expect((await mel.get(p)).status).toBe(403);
    await mel.get("/account");
    const before = inviteCount(sb);
    const r = await mel.post("/admin/invites", {});
    expect(r.status).toBe(403);
    expect(r.text).toContain("Admins only");
    expect(inviteCount(sb)).toBe(before);
    const keys = query<{ n: number }>(sb, "SELECT count(*) AS n FROM api_keys")[0]!.n;
    expect((await mel.post("/admin/keys", {})).status).toBe(403);
    expect(query<{ n: number }>(sb, "SELECT count(*) AS n FROM api_keys")[0]!.n).toBe(keys);
  });

  test("an admin signed in without TOTP (none enrolled) is refused; enrolled, sign-in without, with a wrong or a reused code fails", async () => {
    await makeAccount(sb, server, "noto", PW);
    expect((await cli(["user", "role", "add", "example.com", "noto", "admin"], { config: sb.config })).code).toBe(0);
    const noto = await signedIn(server, "noto@example.com", PW);
    const r = await noto.get("/admin");
    expect(r.status).toBe(403);
    expect(r.text).toContain("Two-step sign-in needed");
    await noto.get("/account");
    expect((await noto.post("/admin/invites", {})).status).toBe(403);

    const uri = await enrolTotp(sb, "noto");
    const sessions = () => query<{ n: number }>(sb, "SELECT count(*) AS n FROM sessions WHERE username = 'noto'")[0]!.n;
    const before = sessions();
    const none = await signInWithTotp(server, "noto", null);
    expect(none.page.status).toBe(401);
    expect(none.page.text).toContain('name="totp"');
    expect((await signInWithTotp(server, "noto", "")).page.status).toBe(401);
    const wrong = String((Number(totpOf(uri).code()) + 1) % 1_000_000).padStart(6, "0");
    expect((await signInWithTotp(server, "noto", wrong)).page.status).toBe(401);
    expect((await signInWithTotp(server, "noto", "12345x")).page.status).toBe(401);
    expect(sessions()).toBe(before);
    const code = totpOf(uri).code();
    const ok = await signInWithTotp(server, "noto", code);
    expect(ok.page.status).toBe(303);
    expect(ok.page.location).toBe("../admin"); // an admin with TOTP goes on to the console
    expect((await ok.browser.get("/admin")).status).toBe(200);
    // The same code again (another browser, same window): refused, and so is the previous step's.
    const reused = await signInWithTotp(server, "noto", code);
    expect(reused.page.status).toBe(401);
    expect((await signInWithTotp(server, "noto", totpOf(uri).code(-1))).page.status).toBe(401);
    expect(sessions()).toBe(before + 1);
    const reasons = auditEvents(sb, "account.login_failed").filter((e) => e.user === "noto").map((e) => JSON.parse(e.details).reason);
    expect(reasons).toEqual(expect.arrayContaining(["totp_missing", "totp_invalid", "totp_reused"]));
    const login = auditEvents(sb, "account.login").filter((e) => e.user === "noto").map((e) => JSON.parse(e.details));
    expect(login.some((d) => d.second_factor === "totp")).toBe(true);
  });

  test("CSRF missing or wrong, or a foreign Origin: 403 and nothing changes", async () => {
    await ada.get("/admin/invites");
    const before = inviteCount(sb);
    expect((await ada.post("/admin/invites", {}, { csrf: null })).status).toBe(403);
    expect((await ada.post("/admin/invites", {}, { csrf: "AAAAAAAAAAAAAAAAAAAAAAAA" })).status).toBe(403);
    await ada.get("/admin/invites");
    expect((await ada.post("/admin/invites", {}, { origin: "https://evil.example" })).status).toBe(403);
    await ada.get("/admin/invites");
    expect((await ada.post("/admin/invites", {}, { origin: null })).status).toBe(403);
    expect(inviteCount(sb)).toBe(before);
    // A csrf token of another session is wrong for this one.
    const other = await signedIn(server, "mel@example.com", PW);
    await other.get("/account");
    await ada.get("/admin/invites");
    expect((await ada.post("/admin/invites", {}, { csrf: /name="csrf" value="([^"]*)"/.exec(other.lastPage!.text)![1]! })).status).toBe(403);
    expect(inviteCount(sb)).toBe(before);
  });

  test("an invite or a key that tries to carry admin is refused at every door: console, CLI, API", async () => {
    const before = inviteCount(sb);
    for (const role of ["admin", "Admin", "ＡＤＭＩＮ"]) {
      await ada.get("/admin/invites");
      const r = await ada.post("/admin/invites", { role });
      expect(r.status).toBe(400);
      expect(r.text).toContain("cannot carry the role");
    }
    const c = await cli(["invite", "create", "example.com", "--role", "admin"], { config: sb.config });
    expect(c.code).toBe(1);
    expect(c.stderr).toContain("admin");
    const key = await createKeyWith(sb, scopeArgs(["invite:create", "invite:create:group"]));
    const api = await call(server.url, "POST", "/api/v1/invites", { key, body: { roles: ["admin"] } });
    expect(api.status).toBe(422);
    expect(JSON.stringify(api.body)).toContain("admin");
    expect(inviteCount(sb)).toBe(before);
    // A key has scopes, never roles: a scope named admin is refused by the console and the CLI alike.
    const keys = query<{ n: number }>(sb, "SELECT count(*) AS n FROM api_keys")[0]!.n;
    await ada.get("/admin/keys");
    const k = await ada.post("/admin/keys", { scope: "admin" });
    expect(k.status).toBe(400);
    expect((await cli(["key", "create", "example.com", "x", "--scope", "admin"], { config: sb.config })).code).not.toBe(0);
    expect(query<{ n: number }>(sb, "SELECT count(*) AS n FROM api_keys")[0]!.n).toBe(keys);
  });

  test("console actions write the CLI's audit events with source web and the admin as actor; destructive ones ask first", async () => {
    await ada.get("/admin/invites");
    const made = await ada.post("/admin/invites", { group: "g1", role: "r1", note: "for Sam", uses: "3", ttl: "2d" });
    expect(made.status).toBe(201);
    const link = /id="link" value="(https:\/\/example\.com\/invite\?[^"]+)"/.exec(made.text)![1]!;
    const id = link.split("?")[1]!.slice(0, 12);
    const row = query<{ groups: string; roles: string; max_uses: number; note: string; created_by: string; expires_at: number; created_at: number }>(sb, "SELECT * FROM invites WHERE id = ?", id)[0]!;
    expect(row).toMatchObject({ max_uses: 3, note: "for Sam", created_by: "console/ada@example.com" });
    expect(row.expires_at - row.created_at).toBe(2 * 86_400_000);
    const created = auditEvents(sb, "invite.created").find((e) => JSON.parse(e.details).invite_id === id || e.details.includes(id))!;
    expect(created.source).toBe("web");
    // A repeated group and role field: every value kept.
    await ada.get("/admin/invites");
    const body = new URLSearchParams([["csrf", /name="csrf" value="([^"]*)"/.exec(ada.lastPage!.text)![1]!], ["group", "a"], ["group", "b"], ["role", "x"], ["role", "y"]]);
    const multi = await fetch(`${server.url}/admin/invites`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: ORIGIN, Cookie: [...ada.cookies].map(([k, v]) => `${k}=${v}`).join("; ") }, body });
    expect(multi.status).toBe(201);
    const multiId = /invite\?([0-9A-Za-z]{12})/.exec(await multi.text())![1]!;
    expect(JSON.parse(query<{ groups: string }>(sb, "SELECT groups FROM invites WHERE id = ?", multiId)[0]!.groups)).toEqual(["a", "b"]);
    // A POST with only csrf: one use on the host's defaults.
    await ada.get("/admin/invites");
    const plain = await ada.post("/admin/invites", {});
    expect(plain.status).toBe(201);

    // Revoke: the first POST only asks.
    await ada.get("/admin/invites");
    const ask = await ada.post("/admin/invites/revoke", { id });
    expect(ask.status).toBe(200);
    expect(ask.text).toContain("Are you sure?");
    expect(query<{ revoked_at: number | null }>(sb, "SELECT revoked_at FROM invites WHERE id = ?", id)[0]!.revoked_at).toBeNull();
    const done = await ada.post("/admin/invites/revoke", { id, confirm: "yes" });
    expect(done.status).toBe(303);
    expect(query<{ revoked_at: number | null }>(sb, "SELECT revoked_at FROM invites WHERE id = ?", id)[0]!.revoked_at).not.toBeNull();
    const revoked = query<{ source: string; actor: string }>(sb, "SELECT source, actor FROM audit_events WHERE type = 'invite.revoked' AND details LIKE ?", `%${id}%`)[0]!;
    expect(revoked).toEqual({ source: "web", actor: "account/ada@example.com" });

    // Roles from the console: audited like the CLI's; admin cannot take its own admin role.
    await ada.get("/admin/accounts/mel");
    expect((await ada.post("/admin/accounts/action", { user: "mel", action: "role_add", role: "moderator" })).status).toBe(303);
    const roleEv = query<{ source: string; actor: string }>(sb, "SELECT source, actor FROM audit_events WHERE type = 'account.role_added' AND user = 'mel' ORDER BY id DESC LIMIT 1")[0]!;
    expect(roleEv).toEqual({ source: "web", actor: "account/ada@example.com" });
    await ada.get("/admin/accounts/ada");
    expect((await ada.post("/admin/accounts/action", { user: "ada", action: "role_remove", role: "admin", confirm: "yes" })).status).toBe(400);

    // Disable asks first, then disables (sessions end, event from the console).
    await ada.get("/admin/accounts/mel");
    expect((await ada.post("/admin/accounts/action", { user: "mel", action: "disable" })).text).toContain("Are you sure?");
    expect(query<{ disabled_at: number | null }>(sb, "SELECT disabled_at FROM accounts WHERE username = 'mel'")[0]!.disabled_at).toBeNull();
    expect((await ada.post("/admin/accounts/action", { user: "mel", action: "disable", confirm: "yes" })).status).toBe(303);
    expect(query<{ disabled_at: number | null }>(sb, "SELECT disabled_at FROM accounts WHERE username = 'mel'")[0]!.disabled_at).not.toBeNull();
    expect(query<{ source: string }>(sb, "SELECT source FROM audit_events WHERE type = 'account.disabled' AND user = 'mel'")[0]!.source).toBe("web");
    await ada.get("/admin/accounts/mel");
    expect((await ada.post("/admin/accounts/action", { user: "mel", action: "enable" })).status).toBe(303);

    // Delete asks, then deletes (downstream first, as the CLI; this host has no provider).
    await makeAccount(sb, server, "gone", PW);
    await ada.get("/admin/accounts/gone");
    expect((await ada.post("/admin/accounts/action", { user: "gone", action: "delete" })).text).toContain("Are you sure?");
    expect(query(sb, "SELECT id FROM accounts WHERE username = 'gone'")).toHaveLength(1);
    expect((await ada.post("/admin/accounts/action", { user: "gone", action: "delete", confirm: "yes" })).status).toBe(303);
    expect(query(sb, "SELECT id FROM accounts WHERE username = 'gone'")).toHaveLength(0);
    expect(query<{ source: string; actor: string }>(sb, "SELECT source, actor FROM audit_events WHERE type = 'account.deleted' AND user = 'gone'")[0]).toEqual({ source: "web", actor: "account/ada@example.com" });

    // A key: created (secret shown once), rotated and deleted after asking.
    await ada.get("/admin/keys");
    const key = await ada.post("/admin/keys", { name: "bot", scope: "invite:list", rate: "10/min" });
    expect(key.status).toBe(201);
    const secret = /id="secret" value="([^"]+)"/.exec(key.text)![1]!;
    expect((await call(server.url, "GET", "/api/v1/invites", { key: secret })).status).toBe(200);
    const keyId = secret.split("/")[0]!;
    expect((await ada.post("/admin/keys/action", { id: keyId, action: "delete" })).text).toContain("Are you sure?");
    expect((await ada.post("/admin/keys/action", { id: keyId, action: "delete", confirm: "yes" })).status).toBe(303);
    expect((await call(server.url, "GET", "/api/v1/invites", { key: secret })).status).toBe(403);
    expect(query<{ n: number }>(sb, "SELECT count(*) AS n FROM api_keys WHERE id = ?", keyId)[0]!.n).toBe(0);
    expect(query<{ source: string }>(sb, "SELECT source FROM audit_events WHERE type = 'key.deleted'").at(-1)!.source).toBe("web");
  });

  test("lists page by keyset and filter: invites by status and creator, accounts by name; a key rotates with grace", async () => {
    for (let i = 0; i < 52; i++) expect((await cli(["invite", "create", "example.com", "--note", `bulk ${i}`], { config: sb.config })).code).toBe(0);
    const rows = (html: string) => [...html.matchAll(/<a href="\.\/invites\/([0-9A-Za-z]{12})">/g)].map((m) => m[1]!);
    const first = await ada.get("/admin/invites?creator=cli&status=active");
    const page1 = rows(first.text);
    expect(page1).toHaveLength(50);
    const next = /href="\?([^"]*after=[^"]+)" rel="next"/.exec(first.text)![1]!.replaceAll("&amp;", "&");
    const second = await ada.get(`/admin/invites?${next}`);
    const page2 = rows(second.text);
    expect(page2.length).toBeGreaterThan(0);
    expect(page2.some((id) => page1.includes(id))).toBe(false);
    const cliIds = new Set(query<{ id: string }>(sb, "SELECT id FROM invites WHERE created_by = 'cli'").map((r) => r.id));
    expect([...page1, ...page2].every((id) => cliIds.has(id))).toBe(true);
    const byConsole = rows((await ada.get("/admin/invites?creator=console")).text);
    expect(byConsole.length).toBeGreaterThan(0);
    expect(byConsole.every((id) => !cliIds.has(id))).toBe(true);
    expect(rows((await ada.get("/admin/invites?status=revoked")).text).length).toBeGreaterThan(0);

    const found = (await ada.get("/admin/accounts?q=ME")).text;
    expect(found).toContain("accounts/mel\"");
    expect(found).not.toContain("accounts/ada\"");
    expect((await ada.get("/admin/accounts?q=%25")).text).not.toContain("accounts/ada\""); // % is a letter here, not a wildcard

    await ada.get("/admin/keys");
    const made = await ada.post("/admin/keys", { name: "rotating", scope: "invite:list" });
    const old = /id="secret" value="([^"]+)"/.exec(made.text)![1]!;
    const id = old.split("/")[0]!;
    expect((await ada.post("/admin/keys/action", { id, action: "rotate" })).text).toContain('name="grace"');
    const rotated = await ada.post("/admin/keys/action", { id, action: "rotate", confirm: "yes", grace: "1h" });
    expect(rotated.status).toBe(201);
    const fresh = /id="secret" value="([^"]+)"/.exec(rotated.text)![1]!;
    expect(fresh).not.toBe(old);
    expect((await call(server.url, "GET", "/api/v1/invites", { key: old })).status).toBe(200); // within the grace period
    expect((await call(server.url, "GET", "/api/v1/invites", { key: fresh })).status).toBe(200);
    expect(query<{ source: string }>(sb, "SELECT source FROM audit_events WHERE type = 'key.rotated'").at(-1)!.source).toBe("web");
  });

  test("the console speaks the reader's language (Accept-Language, ?lang=), right to left in Arabic", async () => {
    const en = await ada.get("/admin"); // English by default
    expect(en.text).toContain("<h1>Dashboard</h1>");
    const german = await fetch(`${server.url}/admin/invites`, { headers: { Cookie: [...ada.cookies].map(([k, v]) => `${k}=${v}`).join("; "), "Accept-Language": "de-CH, en;q=0.5" } });
    const text = await german.text();
    expect(german.headers.get("content-language")).toBe("de");
    expect(text).toContain("Einladungen");
    expect(text).toContain("Übersicht");
    const ar = await ada.get("/admin?lang=ar");
    expect(ar.text).toContain('lang="ar" dir="rtl"');
    expect(ar.text).toContain("لوحة المعلومات");
    await ada.get("/admin?lang=en");
  });

  test("audit export: CSV and JSON of the filtered rows, formula cells defused", async () => {
    const csv = await ada.get("/admin/audit/export.csv?type=invite.*");
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toContain("text/csv");
    expect(csv.headers.get("content-disposition")).toContain("attachment");
    const lines = csv.text.trim().split("\n");
    expect(lines[0]).toBe("id,at,host,type,user,source,actor,ip,country,city,user_agent,details");
    expect(lines.slice(1).every((l) => /,invite\./.test(l))).toBe(true);
    const json = await ada.get("/admin/audit/export.json?type=account.role_added");
    const rows = JSON.parse(json.text);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r: { type: string }) => r.type === "account.role_added")).toBe(true);
    expect((await ada.get("/admin/audit?type=nonsense")).status).toBe(400);
    expect((await ada.get("/admin/audit?country=Germany")).status).toBe(400);
    expect((await ada.get("/admin/audit?since=yesterday")).status).toBe(400);
    expect((await ada.get("/admin/invites?after=%00%00")).status).toBe(400);
  });

  test("nasty input from a signed-in admin: every answer a 2xx-4xx, never a 500", async () => {
    const junk = ["", "\u200b", "\u202e", "a".repeat(5000), "%00", "'; DROP TABLE accounts;--", "../../etc/passwd", "\ud800", "*?[", "１２３"];
    const statuses: number[] = [];
    for (const j of junk) {
      const e = j === "\ud800" ? "%ED%A0%80" : encodeURIComponent(j);
      for (const p of [`/admin/invites?status=${e}&creator=${e}&after=${e}`, `/admin/invites/${e || "x"}`, `/admin/accounts?q=${e}&after=${e}`, `/admin/accounts/${e || "x"}`,
        `/admin/audit?type=${e}&user=${e}&ip=${e}&country=${e}&since=${e}&until=${e}&before=${e}`, `/admin/audit/export.csv?ip=${e}`, `/admin/map?window=${e}&type=${e}`, `/admin?x=${e}`]) {
        statuses.push((await ada.get(p)).status);
      }
      for (const [p, fields] of [
        ["/admin/invites", { username: j, note: j, uses: j, ttl: j, group: j, role: j }],
        ["/admin/invites/revoke", { id: j }],
        ["/admin/accounts/action", { user: j, action: j, role: j }],
        ["/admin/keys", { name: j, expires: j, max_ttl: j, max_uses: j, rate: j, scope: j }],
        ["/admin/keys/action", { id: j, action: j, grace: j }],
        ["/admin/outbox/retry", { id: j }],
      ] as const) {
        await ada.get("/admin");
        statuses.push((await ada.post(p, fields as Record<string, string>)).status);
      }
    }
    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    // Repeated non-list fields are refused by the form reader.
    await ada.get("/admin/invites");
    const csrf = /name="csrf" value="([^"]*)"/.exec(ada.lastPage!.text)![1]!;
    const r = await fetch(`${server.url}/admin/invites`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: ORIGIN, Cookie: [...ada.cookies].map(([k, v]) => `${k}=${v}`).join("; ") }, body: `csrf=${csrf}&note=a&note=b` });
    expect(r.status).toBe(400);
  });

  test("wrong TOTP codes are throttled like passwords", async () => {
    const sb2 = sandbox(`[limits]\nsignin_rate = "off"\nsignin_account_rate = "3/hour"\n`);
    const s2 = await startServer(sb2);
    try {
      const uri = await makeAdmin(sb2, s2, "zed");
      const wrong = String((Number(totpOf(uri).code()) + 7) % 1_000_000).padStart(6, "0");
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await signInWithTotp(s2, "zed", wrong)).page.status);
      expect(statuses).toEqual([401, 401, 401, 429]);
      // Even the right code is refused now.
      expect((await signInWithTotp(s2, "zed", totpOf(uri).code())).page.status).toBe(429);
    } finally {
      await s2.stop();
      sb2.cleanup();
    }
  });
});

describe("the notifications outbox", () => {
  test("a delivery that gave up is listed with its error and retried from the console (asked with csrf, audited as web)", async () => {
    const secret = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;
    const sb = sandbox(`${LIMITS}[[notify]]\nurl = "http://127.0.0.1:9/hook"\nsecret = "${secret}"\nevents = ["invite.created"]\nmax_attempts = 1\nretry_delay = "100ms"\ntimeout = "1s"\n`);
    const server = await startServer(sb);
    try {
      const uri = await makeAdmin(sb, server, "ada");
      const ada = await adminBrowser(server, "ada", uri);
      expect((await cli(["invite", "create", "example.com"], { config: sb.config })).code).toBe(0);
      const failed = () => query<{ id: number; status: string }>(sb, "SELECT id, status FROM webhook_deliveries WHERE event_type = 'invite.created'");
      for (let i = 0; i < 100 && failed()[0]?.status !== "failed"; i++) await Bun.sleep(100);
      expect(failed()[0]!.status).toBe("failed");
      const page = await ada.get("/admin/outbox");
      expect(page.text).toContain("Gave up");
      expect(page.text).toContain("invite.created");
      expect((await ada.post("/admin/outbox/retry", { id: String(failed()[0]!.id) }, { csrf: null })).status).toBe(403);
      expect(failed()[0]!.status).toBe("failed");
      await ada.get("/admin/outbox");
      const r = await ada.post("/admin/outbox/retry", { id: String(failed()[0]!.id) });
      expect(r.status).toBe(303);
      expect(r.location).toContain("retried=1");
      const ev = query<{ source: string; actor: string }>(sb, "SELECT source, actor FROM audit_events WHERE type = 'webhook.retried'")[0]!;
      expect(ev).toEqual({ source: "web", actor: "account/ada@example.com" });
      await ada.get("/admin/outbox");
      expect((await ada.post("/admin/outbox/retry", { all: "yes" })).status).toBe(303);
      const dash = await ada.get("/admin");
      expect(dash.status).toBe(200);
      expect(dash.text).toContain("127.0.0.1:9");
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });
});

describe("admin_allow", () => {
  test("outside the listed ranges everything under admin_path is a 404, even for a signed-in admin; inside it works", async () => {
    const sb = sandbox(LIMITS);
    const toml = readFileSync(sb.config, "utf8").replace("[server]\n", '[server]\nadmin_allow = ["10.0.0.0/8", "2001:db8::/32"]\n');
    writeConfig(sb, toml);
    const server = await startServer(sb);
    try {
      const uri = await makeAdmin(sb, server, "ada");
      const inside = await adminBrowser(server, "ada", uri, "10.1.2.3");
      expect((await inside.get("/admin")).status).toBe(200);
      const outside = new Browser(server, ORIGIN, "203.0.113.9");
      outside.cookies.set("invited_session", inside.session()!);
      for (const p of ["/admin", "/admin/invites", "/admin/console.js", "/admin/nope"]) expect((await outside.get(p)).status).toBe(404);
      const before = inviteCount(sb);
      await inside.get("/admin/invites");
      const csrf = /name="csrf" value="([^"]*)"/.exec(inside.lastPage!.text)![1]!;
      expect((await outside.post("/admin/invites", {}, { csrf })).status).toBe(404);
      expect(inviteCount(sb)).toBe(before);
      // Without a proxy header, the loopback peer is outside too.
      expect((await fetch(`${server.url}/admin`)).status).toBe(404);
      // The rest of the site is not limited.
      expect((await new Browser(server, ORIGIN, "203.0.113.9").get("/account/login")).status).toBe(200);
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });

  test("config: admin_allow must be addresses or ranges; admin_path joins the path-collision check", async () => {
    const sb = sandbox(LIMITS);
    try {
      const base = readFileSync(sb.config, "utf8");
      writeConfig(sb, base.replace("[server]\n", '[server]\nadmin_allow = ["not-an-ip"]\n'));
      const bad = await cli(["key", "list", "example.com"], { config: sb.config });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("admin_allow");
      writeConfig(sb, base.replace("[server]\n", '[server]\nadmin_path = "/account"\n'));
      expect((await cli(["key", "list", "example.com"], { config: sb.config })).stderr).toContain("admin_path");
      writeConfig(sb, base.replace("[server]\n", '[server]\nadmin_path = "/console"\n').replace(/public_url = .*\n/, (m) => `${m}invite_path = "/console/x"\n`));
      const clash = await cli(["key", "list", "example.com"], { config: sb.config });
      expect(clash.code).toBe(2);
      expect(clash.stderr).toContain("admin_path");
    } finally {
      sb.cleanup();
    }
  });
});
