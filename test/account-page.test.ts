// The member's own page at /account over real HTTP: address and inviter, recent activity with its location (country,
// and city from a City database), the "new country" mark, sessions with their own sign-out, "this wasn't me",
// changing the password under the registration policy, and deleting the account. Other people's events never show.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { cli, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { auditEvents, query, register } from "./invite-helpers.ts";
import { Browser, ORIGIN, alertOf, signedIn } from "./account-helpers.ts";
import { countryRecord, writeMmdb } from "./mmdb-writer.ts";

const PW = "correct horse battery";
const US = "8.8.8.8"; // the built-in database: US
const GB = "81.2.69.142"; // GB in the built-in one; Berlin in the City file below

function cityRecord(code: string, name: string, city: string) {
  return { ...(countryRecord(code, name, "EU", "Europe") as object), city: { names: { en: city } } } as never;
}

describe("the account page", () => {
  let sb: Sandbox;
  let server: TestServer;

  beforeAll(async () => {
    sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."example.com".user_invites]\nquota = 3\n\n[limits]\nsignin_rate = "off"\nsignin_account_rate = "off"\n`);
    server = await startServer(sb);
    // alice joins from the US through an invite of the CLI, then invites bob from her page.
    const r = await cli(["invite", "create", "example.com"], { config: sb.config });
    const token = r.stdout.trim().split("?")[1]!;
    expect((await register(server, token, "alice", PW, { "X-Forwarded-For": US })).status).toBe(200);
    const alice = await signedIn(server, "alice", PW, US);
    await alice.get("/account/invites");
    const made = await alice.post("/account/invites", {});
    expect(made.status).toBe(201);
    const bobToken = /value="https:\/\/example\.com\/invite\?([^"]+)"/.exec(made.text)![1]!;
    expect((await register(server, bobToken, "bob", PW, { "X-Forwarded-For": GB })).status).toBe(200);
  });
  afterAll(async () => {
    await server?.stop();
    sb?.cleanup();
  });

  test("address, member since, who invited you, and whom you invited", async () => {
    const bob = await signedIn(server, "bob", PW, GB);
    const page = (await bob.get("/account")).text;
    expect(page).toContain("<h1><bdi class=\"addr\">bob@example.com</bdi></h1>");
    expect(page).toMatch(/<dt>Invited by<\/dt><dd><bdi class="addr">alice@example.com<\/bdi><\/dd>/);
    expect(page).toMatch(/<dt>People you invited<\/dt><dd>Nobody yet<\/dd>/);
    const alice = await signedIn(server, "alice", PW, US);
    const mine = (await alice.get("/account")).text;
    expect(mine).toMatch(/<dt>Invited by<\/dt><dd>The server's admins<\/dd>/);
    expect(mine).toMatch(/<dt>People you invited<\/dt><dd>bob<\/dd>/);
  });

  test("recent activity: own events only, with their location; a sign-in from a new country is marked; no IPs", async () => {
    const alice = await signedIn(server, "alice", PW, US);
    const fromGb = await signedIn(server, "alice", PW, GB);
    await fromGb.get("/account");
    const wrong = new Browser(server, ORIGIN, GB);
    await wrong.signIn("alice", "not the password");
    const page = (await alice.get("/account")).text;
    const activity = page.slice(page.indexOf('id="activity-h"'), page.indexOf('id="sessions-h"'));
    expect(activity).toContain("Account created");
    expect(activity).toContain("Signed in");
    expect(activity).toContain("Failed sign-in");
    expect(activity).toContain("Invite created");
    expect(activity).toContain("United States");
    expect(activity).toContain("United Kingdom");
    expect(activity.match(/New country/g)?.length).toBe(1); // the GB sign-in; the US is where the account began
    expect(page).toContain("a country this account hadn't used before");
    expect(page).not.toContain(US);
    expect(page).not.toContain(GB);
    // bob's registration and sign-ins (from GB) are his: alice's page shows none of his events.
    expect(page).not.toContain("bob@example.com</span></td>");
    const aliceEventIds = auditEvents(sb).filter((e) => e.user === "bob").length;
    expect(aliceEventIds).toBeGreaterThan(0);
    expect(activity).not.toMatch(/Password reset/);
    // Sessions: each with location and last use; this browser marked, the others with their own sign-out.
    const sessions = page.slice(page.indexOf('id="sessions-h"'), page.indexOf('id="notme-h"'));
    expect(sessions).toContain("This browser");
    expect(sessions).toContain("United Kingdom");
    expect(sessions).toMatch(/aria-label="Sign out [^"]+, last used /);
  });

  test("show_ip_to_user = true shows the stored address; a City database adds the city", async () => {
    const geo = join(sb.dir, "GeoLite2-City.mmdb");
    writeMmdb(geo, [{ network: "81.2.69.0/24", record: cityRecord("DE", "Germany", "Berlin") }], "GeoLite2-City");
    const sb2 = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\nshow_ip_to_user = true\n[audit]\ngeoip_database = ${JSON.stringify(geo)}\n`);
    const s2 = await startServer(sb2);
    try {
      const r = await cli(["invite", "create", "example.com"], { config: sb2.config });
      expect((await register(s2, r.stdout.trim().split("?")[1]!, "carol", PW, { "X-Forwarded-For": GB })).status).toBe(200);
      const carol = await signedIn(s2, "carol", PW, GB);
      const page = (await carol.get("/account")).text;
      expect(page).toContain("Berlin, Germany");
      expect(page).toContain(GB);
      expect(query<{ city: string }>(sb2, "SELECT city FROM audit_events WHERE type = 'account.login'")).toEqual([{ city: "Berlin" }]);
      expect(query<{ created_city: string; last_country: string }>(sb2, "SELECT created_city, last_country FROM sessions")).toEqual([{ created_city: "Berlin", last_country: "DE" }]);
    } finally {
      await s2.stop();
      sb2.cleanup();
    }
  });

  test("this wasn't me: every other session ends, then the password page asks for a new one", async () => {
    const mine = await signedIn(server, "bob", PW, GB);
    const intruder = await signedIn(server, "bob", PW, US);
    await mine.get("/account");
    const r = await mine.post("/account/not-me", {});
    expect(r.status).toBe(303);
    expect(r.location).toBe("./password?reason=not_me");
    expect((await intruder.get("/account")).status).toBe(303);
    const page = await mine.get("/account/password?reason=not_me");
    expect(page.status).toBe(200);
    expect(page.text).toContain("Every other device is signed out now");
    expect(JSON.parse(auditEvents(sb, "account.sessions_ended").at(-1)!.details)).toMatchObject({ reason: "not_me" });
  });

  test("changing the password: current one required, the registration policy, other sessions end, old password stops working", async () => {
    const b = await signedIn(server, "bob", PW);
    const other = await signedIn(server, "bob", PW);
    const change = async (current: string, password: string, confirm = password) => {
      await b.get("/account/password");
      return b.post("/account/password", { current, password, password_confirm: confirm });
    };
    const form = (await b.get("/account/password")).text;
    expect(form).toMatch(/<input id="current" name="current" type="password"[^>]*autocomplete="current-password"/);
    expect(form).toMatch(/<input id="next" name="password" type="password"[^>]*autocomplete="new-password"/);
    let r = await change("wrong wrong wrong", "a new long secret");
    expect(r.status).toBe(403);
    expect(r.text).toMatch(/<div class="field-error" id="current-error" role="alert">Your current password is not right.<\/div>/);
    expect((await change(PW, "short")).status).toBe(400);
    r = await change(PW, "my name is bob ok");
    expect(r.status).toBe(400);
    expect(r.text).toContain("must not contain your username");
    expect((await change(PW, "a new long secret", "a different one")).status).toBe(400);
    expect((await change(PW, "a new\u0007long secret")).status).toBe(400);
    expect((await change(PW, "x".repeat(1025))).status).toBe(400);
    expect((await change("", "a new long secret")).status).toBe(400);
    r = await change(PW, "a new long secret");
    expect(r.status).toBe(303);
    expect(r.location).toBe("./?done=password_changed".replace("./?", "../account?"));
    expect((await b.get("/account?done=password_changed")).text).toContain("Your password is changed");
    expect((await other.get("/account")).status).toBe(303);
    expect((await new Browser(server).signIn("bob", PW)).status).toBe(401);
    expect((await new Browser(server).signIn("bob", "a new long secret")).status).toBe(303);
    const changed = JSON.parse(auditEvents(sb, "account.password_changed").at(-1)!.details);
    expect(changed).toMatchObject({ provider: "none" });
    expect(changed.sessions_ended).toBeGreaterThanOrEqual(1);
    expect(server.output()).not.toContain("a new long secret");
  });

  test("deleting the account: the password again, then it is gone and signed out", async () => {
    const r0 = await cli(["invite", "create", "example.com"], { config: sb.config });
    expect((await register(server, r0.stdout.trim().split("?")[1]!, "dan", PW)).status).toBe(200);
    const b = await signedIn(server, "dan", PW);
    expect((await b.get("/account/delete")).status).toBe(200);
    const wrong = await b.post("/account/delete", { password: "nope nope nope" });
    expect(wrong.status).toBe(403);
    expect(query(sb, "SELECT id FROM accounts WHERE username = 'dan'").length).toBe(1);
    await b.get("/account/delete");
    const r = await b.post("/account/delete", { password: PW });
    expect(r.status).toBe(303);
    expect(query(sb, "SELECT id FROM accounts WHERE username = 'dan'")).toEqual([]);
    expect(query(sb, "SELECT id FROM sessions WHERE username = 'dan'")).toEqual([]);
    expect((await b.get("/account")).status).toBe(303);
    expect(alertOf((await new Browser(server).signIn("dan", PW)).text)).toMatch(/don't match/);
  });
});
