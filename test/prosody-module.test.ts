// mod_invited against the real Prosody (Debian's package): a Prosody started with the stock mod_invites,
// mod_invites_register and mod_register_ibr plus deploy/prosody/mod_invited.lua, a real invited it asks, and a
// client that does what an app does: preauth (urn:xmpp:pars:0), in-band registration, then a SCRAM login.
// The client connects over IPv6 loopback (::1) while Prosody reaches invited over 127.0.0.1, so the audit rows show
// whose address invited used.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, cli, freePort, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { accountCount, auditEvents, createInvite, inviteRow, query } from "./invite-helpers.ts";
import { eventually, startRelay, type Relay } from "./provision-helpers.ts";
import { HOST, PROSODY, PROSODYCTL, startProsody, xmppLogin, type Prosody } from "./prosody-helpers.ts";
import { XmppRegistrant, appSignUp } from "./xmpp-register.ts";

const CLIENT = "::1"; // the app's address as Prosody sees it

/** Prosody's data file of one user in one store (internal storage: data/example%2ecom/STORE/USER.dat). */
function prosodyFile(prosody: Prosody, store: string, user: string): string {
  return join(prosody.dir, "data", HOST.replace(/\./g, "%2e"), store, `${user}.dat`);
}

if (!PROSODY || !PROSODYCTL) {
  if (process.env.CI) {
    test("prosody is installed (required in CI)", () => {
      throw new Error("prosody/prosodyctl not found on PATH: .ci/run installs Debian's prosody package");
    });
  } else {
    console.warn("prosody-module.test.ts: skipped, prosody is not installed (apt-get install -y prosody)");
    test.skip("mod_invited with a real Prosody (needs prosody)", () => {});
  }
} else {
  describe("mod_invited with a real Prosody", () => {
    let prosody: Prosody;
    let sb: Sandbox;
    let server: TestServer;
    let invitedPort: number;
    let relay: Relay; // between Prosody and invited, to stop invited at an exact point

    const startInvited = async () => {
      server = await startServer(sb, { port: invitedPort });
    };

    beforeAll(async () => {
      // Every app here connects from ::1; the throttle on the client's address is tested in api-xmpp.test.ts.
      sb = sandbox(`[limits]
registration_rate = "off"

[hosts."${HOST}"]
public_url = "https://${HOST}"
prosody_roles = ["support"]
`);
      invitedPort = freePort();
      await startInvited();
      relay = startRelay(invitedPort);
      const key = await cli(["key", "create", HOST, "prosody", "--scope", "invite:xmpp"], { config: sb.config });
      expect(key.code).toBe(0);
      const keyFile = join(sb.dir, "invited-example.com.key");
      writeFileSync(keyFile, `${key.stdout.trim()}\n`, { mode: 0o600 });
      prosody = await startProsody({
        modules: ["invites", "invites_register", "register_ibr", "invited"],
        global: `plugin_paths = { ${JSON.stringify(join(ROOT, "deploy/prosody"))} }
invited_url = "http://127.0.0.1:${relay.port}"
invited_timeout = 3
invited_retry_interval = 1`,
        virtualHost: `invited_key_file = ${JSON.stringify(keyFile)}`,
        plainAuth: false, // only SCRAM is offered, so the login below is a SCRAM login
        interfaces: ["127.0.0.1", "::1"],
      });
    });

    afterAll(async () => {
      await server?.stop();
      await prosody?.stop();
      relay?.stop();
      sb?.cleanup();
    });

    const signUp = (token: string, username: string, password: string) => appSignUp(prosody.port, HOST, token, username, password, CLIENT);
    const login = (username: string, password: string) => xmppLogin(prosody.port, username, password);

    test("an invited token registers in-band; the SCRAM login works; invited has the account, the ledger row and both events", async () => {
      const invite = await createInvite(sb);
      const r = await signUp(invite.token, "Alice", "correct horse battery");
      expect(r.preauth.type).toBe("result");
      expect(r.register).toEqual({ type: "result" });
      expect(await login("alice", "correct horse battery")).toBe("ok");
      expect(await login("alice", "wrong horse battery")).toBe("not-authorized");

      // The commit is queued and sent right after user-registered.
      await eventually(() => inviteRow(sb, invite.id).uses === 1, 10_000, "the commit");
      expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });
      const account = query<{ username: string; password_hash: string | null; invite_id: string }>(sb, "SELECT * FROM accounts WHERE host = ?", HOST);
      expect(account).toEqual([expect.objectContaining({ username: "alice", password_hash: null, invite_id: invite.id })]);
      expect(query<{ username: string; source: string }>(sb, "SELECT username, source FROM redemptions WHERE invite_id = ?", invite.id)).toEqual([{ username: "alice", source: "xmpp" }]);
      for (const type of ["invite.used", "account.registered"]) {
        const events = auditEvents(sb, type);
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({ user: "alice", host: HOST, source: "xmpp", ip: CLIENT });
      }
      expect(server.output()).not.toContain("correct horse battery");
      expect(prosody.log()).not.toContain(invite.token);
    });

    /** Prosody's own command line, as an admin would run it. */
    const prosodyctl = async (args: string[], stdin?: string) => {
      const p = Bun.spawn([PROSODYCTL!, "--config", prosody.config, ...args], { stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
      const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
      return { code, out: out + err };
    };
    const nothingHeld = (id: string) => expect(inviteRow(sb, id)).toMatchObject({ uses: 0, reserved: 0 });
    const prosodyHas = (user: string) => existsSync(prosodyFile(prosody, "accounts", user));
    /** Signs up and waits until invited has recorded it. */
    const signedUp = async (invite: { token: string; id: string }, username: string, password: string) => {
      const before = inviteRow(sb, invite.id).uses;
      const r = await signUp(invite.token, username, password);
      expect(r.register).toEqual({ type: "result" });
      await eventually(() => inviteRow(sb, invite.id).uses === before + 1 && inviteRow(sb, invite.id).reserved === 0, 10_000, "the commit");
    };

    test("a used-up, a revoked, an expired and an unknown token: refused at preauth with the reason, nothing consumed", async () => {
      const used = await createInvite(sb);
      await signedUp(used, "bob", "bobs password 1");
      const again = await signUp(used.token, "carol", "carols password");
      expect(again.preauth).toMatchObject({ type: "error", errorType: "cancel", condition: "forbidden", text: "The invite has been used up" });
      expect(inviteRow(sb, used.id)).toMatchObject({ uses: 1, reserved: 0 });

      const revoked = await createInvite(sb);
      expect((await cli(["invite", "revoke", HOST, revoked.id], { config: sb.config })).code).toBe(0);
      expect((await signUp(revoked.token, "carol", "carols password")).preauth).toMatchObject({ condition: "forbidden", text: "The invite was revoked" });
      nothingHeld(revoked.id);

      const expired = await createInvite(sb, ["--ttl", "1s"]);
      await Bun.sleep(1100);
      expect((await signUp(expired.token, "carol", "carols password")).preauth).toMatchObject({ condition: "forbidden", text: "The invite has expired" });
      nothingHeld(expired.id);

      // Well-formed but unknown to invited, and not in Prosody's own store either; and a junk one.
      const unknown = `${expired.token.slice(0, 12)}${"A".repeat(22)}`;
      expect((await signUp(unknown, "carol", "carols password")).preauth).toMatchObject({ condition: "forbidden", text: "The invite token is unknown" });
      expect((await signUp("x'\"<>&", "carol", "carols password")).preauth).toMatchObject({ condition: "forbidden", text: "The invite token is unknown" });
      expect(prosodyHas("carol")).toBe(false);
      expect(query(sb, "SELECT * FROM accounts WHERE username = 'carol'")).toEqual([]);
      // The three refusals invited decided are audited with the client's address.
      const refused = auditEvents(sb, "registration.refused").map((e) => ({ reason: JSON.parse(e.details).reason, ip: e.ip, source: e.source }));
      for (const reason of ["invite_used", "invite_revoked", "invite_expired"]) expect(refused).toContainEqual({ reason, ip: CLIENT, source: "xmpp" });
    });

    test("a token made by prosodyctl mod_invites still works with the module loaded", async () => {
      const made = await prosodyctl(["mod_invites", "generate", HOST]);
      expect(made.code).toBe(0);
      const token = /preauth=([A-Za-z0-9_-]+)/.exec(made.out)?.[1];
      expect(token).toBeTruthy();
      const r = await signUp(token!, "pat", "pats password 1");
      expect(r.preauth.type).toBe("result");
      expect(r.register).toEqual({ type: "result" });
      expect(await login("pat", "pats password 1")).toBe("ok");
      expect(query(sb, "SELECT * FROM accounts WHERE username = 'pat'")).toEqual([]); // invited was not involved
    });

    test("a bound invite: another name is refused, its own name works", async () => {
      const invite = await createInvite(sb, ["--username", "dave"]);
      const wrong = await signUp(invite.token, "erin", "erins password");
      expect(wrong.register).toMatchObject({ type: "error", condition: "not-acceptable", text: "This invite is for another username" });
      expect(prosodyHas("erin")).toBe(false);
      nothingHeld(invite.id);
      await signedUp(invite, "Dave", "daves password");
      expect(await login("dave", "daves password")).toBe("ok");
    });

    test("a reset invite changes the password (old fails, new works); for a missing account or another name it is refused", async () => {
      await signedUp(await createInvite(sb), "frank", "franks old password");
      const reset = await createInvite(sb, ["--reset", "frank"]);
      const other = await signUp(reset.token, "notfrank", "a new password");
      expect(other.register).toMatchObject({ type: "error", condition: "not-acceptable" });
      nothingHeld(reset.id);
      await signedUp(reset, "frank", "franks new password");
      expect(await login("frank", "franks new password")).toBe("ok");
      expect(await login("frank", "franks old password")).toBe("not-authorized");
      expect(auditEvents(sb, "account.password_reset").at(-1)).toMatchObject({ user: "frank", source: "xmpp", ip: CLIENT });
      expect(query(sb, "SELECT kind, source FROM redemptions WHERE invite_id = ?", reset.id)).toEqual([{ kind: "reset", source: "xmpp" }]);

      // The account is gone from Prosody (invited still lists it): stock Prosody would create a new one.
      await signedUp(await createInvite(sb), "gina", "ginas password 1");
      const resetGina = await createInvite(sb, ["--reset", "gina"]);
      expect((await prosodyctl(["deluser", `gina@${HOST}`])).code).toBe(0);
      const missing = await signUp(resetGina.token, "gina", "ginas password 2");
      expect(missing.register).toMatchObject({ type: "error", condition: "item-not-found", text: "There is no account of this name to reset" });
      expect(prosodyHas("gina")).toBe(false);
      nothingHeld(resetGina.id);
    });

    test("two registrations on one stream with a one-use token: the second is refused", async () => {
      const invite = await createInvite(sb);
      const c = await XmppRegistrant.connect(prosody.port, HOST, CLIENT);
      try {
        expect((await c.preauth(invite.token)).type).toBe("result");
        expect(await c.register("ivan", "ivans password")).toEqual({ type: "result" });
        // The session's invite was cleared at the first registration, so mod_invites_register finds none.
        const second = await c.register("judy", "judys password");
        expect(second).toMatchObject({ type: "error", text: "Registration on this server is through invitation only" });
      } finally {
        await c.close();
      }
      await eventually(() => inviteRow(sb, invite.id).uses === 1, 10_000, "the commit");
      expect(prosodyHas("ivan")).toBe(true);
      expect(prosodyHas("judy")).toBe(false);
      expect(accountCount(sb)).toBe(query<{ n: number }>(sb, "SELECT count(*) AS n FROM accounts")[0]!.n);
      expect(query(sb, "SELECT username FROM accounts WHERE invite_id = ?", invite.id)).toEqual([{ username: "ivan" }]);
    });

    test("a second preauth on the stream replaces the first: after a refused one, no registration goes through", async () => {
      const invite = await createInvite(sb);
      const c = await XmppRegistrant.connect(prosody.port, HOST, CLIENT);
      try {
        expect((await c.preauth(invite.token)).type).toBe("result");
        const unknown = `${invite.token.slice(0, 12)}${"B".repeat(22)}`;
        expect((await c.preauth(unknown)).condition).toBe("forbidden");
        expect(await c.register("sneaky", "sneaky password")).toMatchObject({ type: "error", text: "Registration on this server is through invitation only" });
      } finally {
        await c.close();
      }
      expect(prosodyHas("sneaky")).toBe(false);
      nothingHeld(invite.id);
    });

    test("10 clients with distinct names race on a one-use token: exactly one account, in Prosody and in invited", async () => {
      const invite = await createInvite(sb);
      const names = Array.from({ length: 10 }, (_, i) => `racer${i}`);
      const clients = await Promise.all(names.map(() => XmppRegistrant.connect(prosody.port, HOST, CLIENT)));
      try {
        const preauths = await Promise.all(clients.map((c) => c.preauth(invite.token)));
        expect(preauths.every((p) => p.type === "result")).toBe(true); // read-only: all of them pass
        const answers = await Promise.all(clients.map((c, i) => c.register(names[i]!, `password of ${names[i]}`)));
        expect(answers.filter((a) => a.type === "result")).toHaveLength(1);
        for (const a of answers.filter((a) => a.type !== "result")) expect(a.errorType === "cancel" || a.errorType === "wait").toBe(true);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
      await eventually(() => inviteRow(sb, invite.id).uses === 1, 10_000, "the commit");
      expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });
      expect(names.filter(prosodyHas)).toHaveLength(1);
      const recorded = query<{ username: string }>(sb, "SELECT username FROM accounts WHERE invite_id = ?", invite.id);
      expect(recorded).toEqual([{ username: names.find(prosodyHas)! }]);
    });

    test("a name taken in Prosody, a failure after the reservation, and a stream closed after preauth: the use is released", async () => {
      const invite = await createInvite(sb);
      expect((await prosodyctl(["adduser", `kim@${HOST}`], "kims own pw\nkims own pw\n")).code).toBe(0);
      const taken = await signUp(invite.token, "kim", "someone elses pw");
      expect(taken.register).toMatchObject({ type: "error", condition: "conflict" });
      nothingHeld(invite.id);
      expect(await login("kim", "kims own pw")).toBe("ok");

      // Prosody cannot store the account after invited reserved the use (its accounts directory is a file now).
      const accounts = join(prosody.dir, "data", HOST.replace(/\./g, "%2e"), "accounts");
      renameSync(accounts, `${accounts}.away`);
      writeFileSync(accounts, "");
      let failed;
      try {
        failed = await signUp(invite.token, "lena", "lenas password");
      } finally {
        rmSync(accounts);
        renameSync(`${accounts}.away`, accounts);
      }
      expect(failed.register).toMatchObject({ type: "error" });
      await eventually(() => /POST \/api\/v1\/xmpp\/release 200/.test(server.output()), 10_000, "the release");
      nothingHeld(invite.id);

      const c = await XmppRegistrant.connect(prosody.port, HOST, CLIENT);
      expect((await c.preauth(invite.token)).type).toBe("result");
      await c.close();
      nothingHeld(invite.id);
      await signedUp(invite, "lena", "lenas password");
      expect(await login("lena", "lenas password")).toBe("ok");
    });

    test("a connection dropped while invited is reserving: Prosody still creates the account, and invited records it", async () => {
      const invite = await createInvite(sb);
      const c = await XmppRegistrant.connect(prosody.port, HOST, CLIENT);
      expect((await c.preauth(invite.token)).type).toBe("result");
      relay.beforeAnswer("POST /api/v1/xmpp/reserve", async () => {
        c.drop();
        await eventually(() => /Client disconnected/.test(prosody.log().split("\n").slice(-3).join("\n")), 5000, "Prosody to see the drop");
      });
      expect((await c.register("rosa", "rosas password")).type).toBe("closed"); // the app never hears back
      // Stock Prosody goes on with the registration it had started; invited records the account it made.
      await eventually(() => inviteRow(sb, invite.id).uses === 1, 10_000, "the commit");
      expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });
      expect(prosodyHas("rosa")).toBe(true);
      expect(query(sb, "SELECT username FROM accounts WHERE invite_id = ?", invite.id)).toEqual([{ username: "rosa" }]);
    });

    test("invited stopped at preauth: 'try again later', then the same token works; stopped before the commit: the commit arrives later, also across a restart of Prosody", async () => {
      const invite = await createInvite(sb);
      await server.stop();
      try {
        const down = await signUp(invite.token, "mona", "monas password");
        expect(down.preauth).toMatchObject({ type: "error", errorType: "wait", text: expect.stringContaining("try again later") });
      } finally {
        await startInvited();
      }
      nothingHeld(invite.id);
      await signedUp(invite, "mona", "monas password");

      // Stop invited right after it answered the reservation: Prosody creates the account and tells the client, but
      // the commit cannot reach invited. It is queued in Prosody's storage and retried until invited is back.
      const later = await createInvite(sb);
      relay.beforeAnswer("POST /api/v1/xmpp/reserve", async () => {
        await server.stop();
      });
      const r = await signUp(later.token, "nils", "nils password");
      expect(r.register).toEqual({ type: "result" });
      expect(await login("nils", "nils password")).toBe("ok");
      await Bun.sleep(1500); // a retry or two against the stopped invited
      expect(prosody.log()).toMatch(/has not recorded nils yet/);
      await prosody.restart(); // the queue is in Prosody's storage, not in its memory
      await startInvited();
      await eventually(() => inviteRow(sb, later.id).uses === 1, 15_000, "the queued commit");
      expect(inviteRow(sb, later.id)).toMatchObject({ uses: 1, reserved: 0 });
      expect(query(sb, "SELECT username, password_hash FROM accounts WHERE invite_id = ?", later.id)).toEqual([{ username: "nils", password_hash: null }]);
      expect(auditEvents(sb, "account.registered").filter((e) => e.user === "nils")).toHaveLength(1);
    });

    test("roles on the host's prosody_roles reach Prosody's roles store as a map; prosody:admin never does", async () => {
      const invite = await createInvite(sb, ["--role", "support", "--role", "prosody:admin", "--role", "other"]);
      await signedUp(invite, "olga", "olgas password");
      const stored = readFileSync(prosodyFile(prosody, "roles", "olga"), "utf8");
      expect(stored).toMatch(/\["support"\] = true/);
      expect(stored).not.toContain("prosody:admin");
      expect(stored).not.toContain("other");
      // invited's own record keeps every role of the invite.
      expect(JSON.parse(query<{ roles: string }>(sb, "SELECT roles FROM accounts WHERE username = 'olga'")[0]!.roles)).toEqual(["support", "prosody:admin", "other"]);

      const plain = await createInvite(sb);
      await signedUp(plain, "pia", "pias password");
      expect(existsSync(prosodyFile(prosody, "roles", "pia"))).toBe(false);
    });

    test("invited check shows the module's last report, and with app_registration = auto the app button is offered", async () => {
      const r = await cli(["check", "--json"], { config: sb.config });
      const item = JSON.parse(r.stdout).checks.find((c: { name: string }) => c.name === `prosody ${HOST}`);
      expect(item).toMatchObject({ status: "ok", detail: expect.stringMatching(/^mod_invited last reported \d+s ago \(Prosody 0\.12\.3, mod_invited 1\); the app button and xmpp: links are offered \(app_registration = auto\)$/) });
      const text = await cli(["check"], { config: sb.config });
      expect(text.stdout).toMatch(/prosody example\.com\s+ok\s+mod_invited last reported/);
      const invite = await createInvite(sb, ["--username", "quentin"]);
      const page = await fetch(`${server.url}/invite?${invite.token}`);
      expect(page.headers.get("link")).toBe(`<xmpp:quentin@${HOST}?register;preauth=${invite.token}>; rel="alternate"`);
      expect(await page.text()).toContain("Open invite in my app");
    });

    test("the config in docs/prosody.md works when copied (with this machine's paths)", async () => {
      const doc = readFileSync(join(ROOT, "docs/prosody.md"), "utf8");
      const snippet = /```lua\n([\s\S]*?)```/.exec(doc)![1]!;
      expect(snippet).toContain('"invited";');
      const lua = snippet
        .replace('"/usr/local/lib/invited/prosody"', JSON.stringify(join(ROOT, "deploy/prosody")))
        .replace('"http://127.0.0.1:5380"', JSON.stringify(`http://127.0.0.1:${invitedPort}`))
        .replace('"/etc/prosody/invited-example.com.key"', JSON.stringify(join(sb.dir, "invited-example.com.key")));
      expect(lua).not.toMatch(/\/usr\/local|\/etc\/prosody|:5380/);
      const copied = await startProsody({ tail: lua });
      try {
        const invite = await createInvite(sb);
        const r = await appSignUp(copied.port, HOST, invite.token, "ulla", "ullas password");
        expect(r.register).toEqual({ type: "result" });
        await eventually(() => inviteRow(sb, invite.id).uses === 1, 10_000, "the commit");
      } finally {
        await copied.stop();
      }
    });
  });

  test("over [limits] registration_rate the app is told to try again later, counted on its own address", async () => {
    const box = sandbox(`[limits]\nregistration_rate = "1/hour"\n[hosts."${HOST}"]\npublic_url = "https://${HOST}"\n`);
    const invited = await startServer(box);
    const key = await cli(["key", "create", HOST, "prosody", "--scope", "invite:xmpp"], { config: box.config });
    const keyFile = join(box.dir, "key");
    writeFileSync(keyFile, key.stdout, { mode: 0o600 });
    const prosody = await startProsody({
      modules: ["invites", "invites_register", "register_ibr", "invited"],
      global: `plugin_paths = { ${JSON.stringify(join(ROOT, "deploy/prosody"))} }\ninvited_url = "http://127.0.0.1:${invited.port}"`,
      virtualHost: `invited_key_file = ${JSON.stringify(keyFile)}`,
      interfaces: ["127.0.0.1", "::1"],
    });
    try {
      const invite = await createInvite(box, ["--unlimited"]);
      expect((await appSignUp(prosody.port, HOST, invite.token, "first", "first password", CLIENT)).register).toEqual({ type: "result" });
      const second = await appSignUp(prosody.port, HOST, invite.token, "second", "second password", CLIENT);
      expect(second.register).toMatchObject({ type: "error", errorType: "wait", condition: "policy-violation", text: "Too many registrations from your address, try again later" });
      // Another client (127.0.0.1 here) has its own allowance: the bucket is the app's address, not Prosody's.
      expect((await appSignUp(prosody.port, HOST, invite.token, "third", "third password")).register).toEqual({ type: "result" });
    } finally {
      await prosody.stop();
      await invited.stop();
      box.cleanup();
    }
  });

  test("a missing key file stops the module from loading, with the reason in Prosody's log", async () => {
    const box = sandbox();
    const prosody = await startProsody({
      modules: ["invites", "invites_register", "register_ibr", "invited"],
      global: `plugin_paths = { ${JSON.stringify(join(ROOT, "deploy/prosody"))} }\ninvited_url = "http://127.0.0.1:9"`,
      virtualHost: `invited_key_file = ${JSON.stringify(join(box.dir, "missing.key"))}`,
    });
    try {
      await eventually(() => /mod_invited: cannot read invited_key_file/.test(prosody.log()), 10_000, "the error in the log");
      // Prosody itself runs on, with only its own tokens.
      const r = await appSignUp(prosody.port, HOST, `${"A".repeat(12)}${"B".repeat(22)}`, "x", "y");
      expect(r.preauth).toMatchObject({ condition: "forbidden", text: "The invite token is invalid or expired" });
    } finally {
      await prosody.stop();
      box.cleanup();
    }
  });
}
