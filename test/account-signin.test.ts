// Sign-in at /account/login and the sessions it makes, over real HTTP: the cookie, a new id at every sign-in, no
// user enumeration, throttles, CSRF refusals (Origin and the csrf field), sign-out, sign-out everywhere, timeouts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cli, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { auditEvents, makeAccount, query } from "./invite-helpers.ts";
import { Browser, ORIGIN, alertOf, csrfOf, signedIn } from "./account-helpers.ts";
import { eventually } from "./provision-helpers.ts";

const PW = "correct horse battery";

function rw(sb: Sandbox, sql: string, ...params: (string | number)[]): void {
  const db = new Database(sb.db);
  try {
    db.query(sql).run(...params);
  } finally {
    db.close();
  }
}

describe("sign-in and sessions", () => {
  let sb: Sandbox;
  let server: TestServer;

  beforeAll(async () => {
    sb = sandbox(`[limits]\nsignin_rate = "off"\nsignin_account_rate = "off"\n`);
    server = await startServer(sb);
    await makeAccount(sb, server, "alice", PW);
    await makeAccount(sb, server, "bob", PW);
  });
  afterAll(async () => {
    await server?.stop();
    sb?.cleanup();
  });

  test("the sign-in page: fields user and password with labels, a csrf field, its own cookie, and the page headers", async () => {
    const b = new Browser(server);
    const page = await b.get("/account/login");
    expect(page.status).toBe(200);
    expect(page.text).toContain('<label for="user">');
    expect(page.text).toMatch(/<input id="user" name="user"[^>]*autocomplete="username"/);
    expect(page.text).toMatch(/<input id="password" name="password" type="password"[^>]*autocomplete="current-password"/);
    expect(csrfOf(page.text)).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(page.headers.get("referrer-policy")).toBe("same-origin");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(page.headers.getSetCookie()[0]).toMatch(/^__Host-invited_login=[A-Za-z0-9_-]{22}; Path=\/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure$/);
    // Not signed in: the account page sends you to sign in.
    const home = await b.get("/account");
    expect(home.status).toBe(303);
    expect(home.location).toBe("./account/login");
  });

  test("signing in makes a session: a __Host- cookie (https public_url), only its hash stored, account.login audited", async () => {
    const b = new Browser(server);
    const r = await b.signIn("Alice", PW); // any case, like registration
    expect(r.status).toBe(303);
    const set = r.headers.getSetCookie().find((c) => c.startsWith("__Host-invited_session="))!;
    expect(set).toMatch(/^__Host-invited_session=[A-Za-z0-9_-]{32}; Path=\/; Max-Age=604800; HttpOnly; SameSite=Lax; Secure$/);
    const secret = b.session()!;
    const rows = query<{ id_hash: string; username: string; expires_at: number; created_at: number }>(sb, "SELECT * FROM sessions WHERE username = 'alice'");
    expect(rows.length).toBeGreaterThan(0);
    expect(JSON.stringify(rows)).not.toContain(secret);
    expect(rows.some((s) => s.id_hash === new Bun.CryptoHasher("sha256").update(secret).digest("hex"))).toBe(true);
    expect(rows[0]!.expires_at - rows[0]!.created_at).toBe(7 * 86_400_000);
    const home = await b.get("/account");
    expect(home.status).toBe(200);
    expect(home.text).toContain("alice@example.com");
    expect(home.headers.get("referrer-policy")).toBe("same-origin");
    const login = auditEvents(sb, "account.login").at(-1)!;
    expect(login.user).toBe("alice");
    expect(JSON.parse(login.details)).toMatchObject({ method: "local" });
    // name@host works too.
    expect((await new Browser(server).signIn("bob@example.com", PW)).status).toBe(303);
  });

  test("no user enumeration: an unknown name and a wrong password get the same answer in about the same time", async () => {
    const b = new Browser(server);
    await b.get("/account/login");
    const timed = async (user: string) => {
      const t = performance.now();
      const r = await b.post("/account/login", { user, password: "wrong password here" });
      return { ms: performance.now() - t, r };
    };
    await timed("alice"); // warm up
    const wrong = [];
    const unknown = [];
    for (let i = 0; i < 4; i++) {
      wrong.push(await timed("alice"));
      unknown.push(await timed(`nobody${i}`));
    }
    for (const x of [...wrong, ...unknown]) {
      expect(x.r.status).toBe(401);
      expect(alertOf(x.r.text)).toBe("That address and password don't match. Check both and try again.");
    }
    // The pages differ only in the echoed name.
    expect(wrong[0]!.r.text.replace(/value="alice"/, "")).toBe(unknown[0]!.r.text.replace(/value="nobody0"/, ""));
    const median = (xs: { ms: number }[]) => xs.map((x) => x.ms).sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ratio = median(wrong) / median(unknown);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
    expect(median(unknown)).toBeGreaterThan(20); // a real argon2id verification, not a shortcut
    // Audited: the real account by name, the unknown ones without a name (junk never lands in the log).
    const failed = auditEvents(sb, "account.login_failed");
    expect(failed.some((e) => e.user === "alice" && JSON.parse(e.details).reason === "invalid")).toBe(true);
    expect(failed.every((e) => e.user === "alice" || e.user === "")).toBe(true);
    expect(JSON.stringify(failed)).not.toContain("wrong password here");
    expect(server.output()).not.toContain("wrong password here");
  });

  test("fixation: a cookie planted before sign-in is worthless, and every sign-in gets a new id", async () => {
    const b = new Browser(server);
    b.cookies.set("__Host-invited_session", "A".repeat(32));
    await b.signIn("alice", PW);
    const first = b.session()!;
    expect(first).not.toBe("A".repeat(32));
    await b.signIn("alice", PW); // signed in already: GET login sends you home; sign in again from a fresh page
    const again = new Browser(server);
    await again.signIn("alice", PW);
    expect(again.session()).not.toBe(first);
    const planted = new Browser(server);
    planted.cookies.set("__Host-invited_session", "A".repeat(32));
    expect((await planted.get("/account")).status).toBe(303);
  });

  test("CSRF: a POST without the right Origin or without the session's csrf token is a 403 and changes nothing", async () => {
    const b = await signedIn(server, "alice", PW);
    await b.get("/account");
    const token = csrfOf(b.lastPage!.text)!;
    const sessionsBefore = query(sb, "SELECT id FROM sessions").length;
    for (const [origin, csrf] of [
      [null, token],
      ["null", token],
      ["https://evil.example", token],
      ["http://example.com", token], // another scheme is another origin
      [ORIGIN, null],
      [ORIGIN, ""],
      [ORIGIN, "x".repeat(24)],
      [ORIGIN, csrfOf((await (await signedIn(server, "bob", PW)).get("/account")).text)!], // another session's token
    ] as const) {
      const r = await b.post("/account/logout", {}, { origin, csrf });
      expect(r.status).toBe(403);
      expect(r.text).not.toContain("signed out");
      expect((await b.get("/account")).status).toBe(200);
    }
    expect(query(sb, "SELECT id FROM sessions").length).toBeGreaterThanOrEqual(sessionsBefore);
    // The sign-in form checks the Origin and its own token too.
    const anon = new Browser(server, null);
    await anon.get("/account/login");
    expect((await anon.post("/account/login", { user: "alice", password: PW })).status).toBe(403);
    const noCookie = new Browser(server);
    expect((await noCookie.post("/account/login", { user: "alice", password: PW }, { csrf: "x".repeat(24) })).status).toBe(403);
    expect(noCookie.session()).toBeUndefined();
    // With both, sign-out works and the cookie is cleared.
    await b.get("/account");
    const out = await b.post("/account/logout", {});
    expect(out.status).toBe(303);
    expect(out.headers.getSetCookie().some((c) => c.startsWith("__Host-invited_session=;") && /Max-Age=0/.test(c))).toBe(true);
    expect((await b.get("/account")).status).toBe(303);
    expect(auditEvents(sb, "account.logout").length).toBeGreaterThan(0);
  });

  test("bad bodies get a clear 4xx, never a 500", async () => {
    const b = new Browser(server);
    await b.get("/account/login");
    const csrf = csrfOf(b.lastPage!.text)!;
    const cookie = [...b.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const post = (body: string, type = "application/x-www-form-urlencoded") =>
      fetch(`${server.url}/account/login`, { method: "POST", redirect: "manual", headers: { "Content-Type": type, Origin: ORIGIN, Cookie: cookie }, body });
    expect((await post(`csrf=${csrf}&user=a&user=b&password=x`)).status).toBe(400);
    expect((await post("x".repeat(70_000))).status).toBe(413);
    expect((await post("{}", "application/json")).status).toBe(415);
    expect((await post(`csrf=${csrf}&user=&password=`)).status).toBe(400);
    expect((await post(`csrf=${csrf}&user=${"a".repeat(5000)}&password=x`)).status).toBe(401);
    expect((await post(`csrf=${csrf}&user=al%E2%80%8Bice&password=${encodeURIComponent(PW)}`)).status).toBe(401); // zero-width space
    expect((await post(`csrf=${csrf}&user=alice%00&password=${encodeURIComponent(PW)}`)).status).toBe(401);
    expect((await post(`csrf=${csrf}&user=alice@other.example&password=x`)).status).toBe(400);
    expect((await post(`csrf=${csrf}&user=alice&password=${"p".repeat(5000)}`)).status).toBe(401);
  });

  test("sign out one session from the list, and sign out everywhere", async () => {
    const laptop = await signedIn(server, "bob", PW);
    const phone = await signedIn(server, "bob", PW);
    const page = await laptop.get("/account");
    expect(page.text).toContain("This browser");
    const phoneId = query<{ id: number }>(sb, "SELECT id FROM sessions WHERE id_hash = ?", new Bun.CryptoHasher("sha256").update(phone.session()!).digest("hex"))[0]!.id;
    const r = await laptop.post("/account/sessions", { session: String(phoneId) });
    expect(r.status).toBe(303);
    expect((await phone.get("/account")).status).toBe(303);
    expect((await laptop.get("/account")).status).toBe(200);
    // Someone else's session id cannot be ended from here.
    const carol = await signedIn(server, "alice", PW);
    const carolId = query<{ id: number }>(sb, "SELECT id FROM sessions WHERE id_hash = ?", new Bun.CryptoHasher("sha256").update(carol.session()!).digest("hex"))[0]!.id;
    await laptop.get("/account");
    await laptop.post("/account/sessions", { session: String(carolId) });
    expect((await carol.get("/account")).status).toBe(200);

    const tablet = await signedIn(server, "bob", PW);
    await laptop.get("/account");
    const all = await laptop.post("/account/sessions/all", {});
    expect(all.status).toBe(303);
    expect((await laptop.get("/account")).status).toBe(303);
    expect((await tablet.get("/account")).status).toBe(303);
    expect(query(sb, "SELECT id FROM sessions WHERE username = 'bob'")).toEqual([]);
    expect(JSON.parse(auditEvents(sb, "account.sessions_ended").at(-1)!.details)).toMatchObject({ reason: "sign_out_everywhere" });
  });

  test("idle timeout and absolute lifetime end a session; ended sessions are pruned", async () => {
    const idle = await signedIn(server, "alice", PW);
    const old = await signedIn(server, "alice", PW);
    const hash = (b: Browser) => new Bun.CryptoHasher("sha256").update(b.session()!).digest("hex");
    rw(sb, "UPDATE sessions SET last_seen_at = last_seen_at - 3601000 WHERE id_hash = ?", hash(idle));
    rw(sb, "UPDATE sessions SET expires_at = ? WHERE id_hash = ?", Date.now() - 1, hash(old));
    expect((await idle.get("/account")).status).toBe(303);
    expect((await old.get("/account")).status).toBe(303);
    // The pruner runs at start-up (and every ten minutes).
    await server.stop();
    server = await startServer(sb);
    await eventually(() => query(sb, "SELECT id FROM sessions WHERE id_hash IN (?, ?)", hash(idle), hash(old)).length === 0, 5000, "pruning");
  });
});

describe("throttles and settings", () => {
  test("sign-in attempts are throttled per client network and per account, with Retry-After", async () => {
    const sb = sandbox(`[limits]\nsignin_rate = "3/min"\nsignin_account_rate = "5/hour"\n`);
    const server = await startServer(sb);
    try {
      await makeAccount(sb, server, "alice", PW);
      const b = new Browser(server, ORIGIN, "203.0.113.7");
      await b.get("/account/login");
      for (let i = 0; i < 3; i++) expect((await b.post("/account/login", { user: "alice", password: "nope nope" })).status).toBe(401);
      const limited = await b.post("/account/login", { user: "alice", password: PW });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(alertOf(limited.text)).toMatch(/Too many sign-in attempts/);
      expect(b.session()).toBeUndefined();
      // Another network may still try, until the account has had its 5 attempts of the hour (3 + 2): then even the
      // right password waits.
      const other = new Browser(server, ORIGIN, "198.51.100.9");
      await other.get("/account/login");
      expect((await other.post("/account/login", { user: "alice", password: "nope nope" })).status).toBe(401);
      expect((await other.post("/account/login", { user: "alice", password: "nope nope" })).status).toBe(401);
      expect((await other.post("/account/login", { user: "alice", password: PW })).status).toBe(429);
      // An unknown name is throttled exactly like a real one.
      const tryGhost = async (i: number) => {
        const b = new Browser(server, ORIGIN, `192.0.2.${i}`); // a network of its own each time
        await b.get("/account/login");
        return (await b.post("/account/login", { user: "ghost", password: "nope nope" })).status;
      };
      for (let i = 1; i <= 5; i++) expect(await tryGhost(i)).toBe(401);
      expect(await tryGhost(6)).toBe(429);
      expect(auditEvents(sb, "account.login_failed").some((e) => JSON.parse(e.details).reason === "throttled")).toBe(true);
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });

  test("[sessions] timeouts and account_path are configurable; account_path joins the path-collision check", async () => {
    const sb = sandbox(`[server]\naccount_path = "/me"\n[sessions]\nidle_timeout = "5m"\nlifetime = "1d"\n`.replace("[server]\n", ""));
    sb.cleanup();
    const good = sandbox("", { publicUrl: "http://example.com" });
    const toml = await Bun.file(good.config).text();
    await Bun.write(good.config, toml.replace("[server]\n", '[server]\naccount_path = "/me"\n') + '\n[sessions]\nidle_timeout = "5m"\nlifetime = "1d"\n');
    const server = await startServer(good);
    try {
      await makeAccount(good, server, "alice", PW);
      const b = new Browser(server, "http://example.com");
      await b.get("/me/login");
      const r = await b.post("/me/login", { user: "alice", password: PW });
      expect(r.status).toBe(303);
      // http public_url: no __Host- prefix, no Secure.
      expect(r.headers.getSetCookie().find((c) => c.startsWith("invited_session="))).toMatch(/^invited_session=[A-Za-z0-9_-]{32}; Path=\/; Max-Age=86400; HttpOnly; SameSite=Lax$/);
      expect((await b.get("/me")).status).toBe(200);
      expect((await b.get("/account")).status).toBe(404);
      const [row] = query<{ expires_at: number; created_at: number }>(good, "SELECT * FROM sessions");
      expect(row!.expires_at - row!.created_at).toBe(86_400_000);
    } finally {
      await server.stop();
      good.cleanup();
    }
    for (const [extra, message] of [
      ['[hosts."example.com"]\nregister_path = "/account/register"\n', /inside server.account_path/],
      ['[hosts."example.com"]\ninvite_path = "/account"\n', /both "\/account"|inside server.account_path/],
      ['[server]\naccount_path = "/api/v1/me"\n', /a path invited already serves/],
      ['[sessions]\nidle_timeout = "10s"\n', /idle_timeout' must be at least 1m/],
      ['[sessions]\nlifetime = "30m"\n', /lifetime' must not be shorter than idle_timeout/],
      ['[limits]\nsignin_rate = "lots"\n', /signin_rate' must be a rate/],
    ] as const) {
      const bad = sandbox(extra.startsWith("[server]") ? "" : extra);
      if (extra.startsWith("[server]")) await Bun.write(bad.config, (await Bun.file(bad.config).text()).replace("[server]\n", `[server]\n${extra.slice(9)}`));
      try {
        const r = await cli(["invite", "list", "example.com"], { config: bad.config });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
      } finally {
        bad.cleanup();
      }
    }
  });
});
