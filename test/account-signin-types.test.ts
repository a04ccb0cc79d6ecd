// [hosts.X.signin] types other than local, over real HTTP: a verify_command (password on stdin, exit 0/1/else), a
// signed signin.verify webhook (204/401/else), and the real Prosody (type = "xmpp"): the password is checked where
// it lives, an account known only downstream gets its row at first sign-in, and a password changed downstream is
// the one that works.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { auditEvents, createInvite, query, register } from "./invite-helpers.ts";
import { Browser, alertOf } from "./account-helpers.ts";
import { newSecret, startReceiver } from "./provision-helpers.ts";
import { HOST, PROSODY, PROSODYCTL, startProsody, xmppLogin, type Prosody } from "./prosody-helpers.ts";

async function trySignIn(server: TestServer, user: string, password: string): Promise<{ status: number; alert: string | null; browser: Browser }> {
  const b = new Browser(server);
  const r = await b.signIn(user, password);
  return { status: r.status, alert: alertOf(r.text), browser: b };
}

describe("type = command", () => {
  let sb: Sandbox;
  let server: TestServer;
  beforeAll(async () => {
    sb = sandbox();
    // Valid for dave/"dave's pass" and erin/"erin's pass"; "boom" makes it fail; the password comes on stdin only.
    const script = join(sb.dir, "verify.sh");
    writeFileSync(script, `#!/bin/sh\nread -r pw\n[ "$pw" = "boom" ] && exit 7\n[ "$1" = "dave@example.com" ] && [ "$pw" = "dave's pass" ] && exit 0\n[ "$1" = "erin@example.com" ] && [ "$pw" = "erin's pass" ] && exit 0\nexit 1\n`);
    chmodSync(script, 0o755);
    await Bun.write(sb.config, (await Bun.file(sb.config).text()).replace(/\[limits\]/, `[hosts."example.com".provision]\ntype = "command"\ncommand = ["/bin/true"]\n\n[hosts."example.com".signin]\ntype = "command"\nverify_command = [${JSON.stringify(script)}, "{username}@{host}"]\ntimeout = "5s"\n\n[limits]`));
    server = await startServer(sb);
  });
  afterAll(async () => {
    await server?.stop();
    sb?.cleanup();
  });

  test("exit 0 signs in, and an account known only downstream gets its row, with no password hash", async () => {
    expect(query(sb, "SELECT * FROM accounts")).toEqual([]);
    const ok = await trySignIn(server, "dave", "dave's pass");
    expect(ok.status).toBe(303);
    expect(query<{ username: string; password_hash: string | null; invited_by: string | null }>(sb, "SELECT username, password_hash, invited_by FROM accounts")).toEqual([
      { username: "dave", password_hash: null, invited_by: null },
    ]);
    expect(JSON.parse(auditEvents(sb, "account.login").at(-1)!.details)).toMatchObject({ method: "command", first_sign_in: true });
    expect((await ok.browser.get("/account")).text).toContain("made outside this site");
    // Signing in again uses the same row.
    expect((await trySignIn(server, "dave", "dave's pass")).status).toBe(303);
    expect(query(sb, "SELECT id FROM accounts").length).toBe(1);
    expect(server.output()).not.toContain("dave's pass");
  });

  test("exit 1 is a wrong password (the same answer as an unknown name); another status is an error, not a sign-in", async () => {
    const wrong = await trySignIn(server, "dave", "nope");
    const unknown = await trySignIn(server, "zed", "nope");
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.alert).toBe(unknown.alert);
    const broken = await trySignIn(server, "dave", "boom");
    expect(broken.status).toBe(503);
    expect(broken.alert).toMatch(/can't check your password right now/);
    expect(broken.browser.session()).toBeUndefined();
    expect(server.output()).toMatch(/exited with status 7/);
  });
});

describe("type = webhook", () => {
  test("a signed signin.verify: 204 valid, 401 invalid, anything else an error; the signature verifies", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret], (req) => {
      // The same receiver is the host's provider: it does what provision.disable and the like ask.
      if (String(req.json.type).startsWith("provision.")) return new Response(null, { status: 204 });
      const { username, password } = req.json;
      if (password === "teapot") return new Response(null, { status: 418 });
      return new Response(null, { status: username === "fay" && password === "fay's secret" ? 204 : 401 });
    });
    const sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."example.com".provision]\ntype = "webhook"\nurl = "${receiver.url}"\nsecret = "${secret}"\n[hosts."example.com".signin]\ntype = "webhook"\nurl = "${receiver.url}"\nsecret = "${secret}"\n`);
    const server = await startServer(sb);
    try {
      expect((await trySignIn(server, "Fay", "fay's secret")).status).toBe(303);
      const req = receiver.received.at(-1)!;
      expect(req.verifiedWith).toBe(secret);
      expect(req.json).toEqual({ type: "signin.verify", host: "example.com", username: "fay", password: "fay's secret" });
      expect((await trySignIn(server, "fay", "wrong")).status).toBe(401);
      expect((await trySignIn(server, "fay", "teapot")).status).toBe(503);
      // A disabled account cannot sign in even with the right password.
      expect((await cli(["user", "disable", "example.com", "fay"], { config: sb.config })).code).toBe(0);
      const disabled = await trySignIn(server, "fay", "fay's secret");
      expect(disabled.status).toBe(403);
      expect(disabled.alert).toMatch(/disabled/);
    } finally {
      await server.stop();
      sb.cleanup();
      receiver.stop();
    }
  });

  test("config: each type names what it needs", async () => {
    for (const [body, message] of [
      ['type = "xmpp"', /server' is required/],
      ['type = "xmpp"\nserver = "nowhere"', /server' must be "HOST:PORT"/],
      ['type = "command"', /verify_command' is required/],
      ['type = "command"\nverify_command = ["/bin/x", "{password}"]', /must not contain \{password\}/],
      ['type = "webhook"\nurl = "https://x.example/hook"', /secret' is required/],
      ['type = "ldap"', /type' can be "ldap" only on a host whose \[provision\] is type = "ldap"/],
      ['type = "kerberos"', /type' must be/],
      ['type = "local"\ncolour = "red"', /colour' is not a known setting/],
    ] as const) {
      const sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."example.com".signin]\n${body}\n`);
      try {
        const r = await cli(["invite", "list", "example.com"], { config: sb.config });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
      } finally {
        sb.cleanup();
      }
    }
  });
});

if (!PROSODY || !PROSODYCTL) {
  if (process.env.CI) test("prosody is installed (required in CI)", () => void expect(PROSODY).toBeTruthy());
  else test.skip("type = xmpp with a real Prosody (needs prosody)", () => {});
} else {
  describe("type = xmpp with a real Prosody", () => {
    let prosody: Prosody;
    let sb: Sandbox;
    let server: TestServer;
    const ctl = (...args: string[]) => Bun.spawn([PROSODYCTL!, "--config", prosody.config, ...args], { stdout: "pipe", stderr: "pipe", stdin: "pipe" });
    const passwd = async (user: string, password: string) => {
      const p = ctl("passwd", `${user}@${HOST}`);
      p.stdin.write(`${password}\n${password}\n`);
      await p.stdin.end();
      expect(await p.exited).toBe(0);
    };

    beforeAll(async () => {
      prosody = await startProsody();
      const cmd = (verb: string) => JSON.stringify([PROSODYCTL, "--config", prosody.config, verb, "{username}@{host}"]);
      sb = sandbox(`[hosts."${HOST}"]
public_url = "https://${HOST}"

[hosts."${HOST}".provision]
type = "command"
command = ${cmd("adduser")}
reset_command = ${cmd("passwd")}
timeout = "30s"

[hosts."${HOST}".signin]
type = "xmpp"
server = "127.0.0.1:${prosody.port}"
timeout = "15s"
`);
      server = await startServer(sb);
    });
    afterAll(async () => {
      await server?.stop();
      sb?.cleanup();
      await prosody?.stop();
    });

    test("an account made by web registration, its password then changed with prosodyctl passwd, signs in with the new password and not the old", async () => {
      const invite = await createInvite(sb);
      expect((await register(server, invite.token, "alice", "first pass word")).status).toBe(200);
      expect((await trySignIn(server, "alice", "first pass word")).status).toBe(303);
      await passwd("alice", "second pass word");
      expect((await trySignIn(server, "alice", "second pass word")).status).toBe(303);
      const old = await trySignIn(server, "alice", "first pass word");
      expect(old.status).toBe(401);
      const unknown = await trySignIn(server, "nobody", "first pass word");
      expect(unknown.status).toBe(401);
      expect(unknown.alert).toBe(old.alert);
      expect(JSON.parse(auditEvents(sb, "account.login").at(-1)!.details)).toMatchObject({ method: "xmpp" });
    });

    test("an account made with prosodyctl (no row in invited) signs in; invited then records it without a hash", async () => {
      const p = ctl("adduser", `carl@${HOST}`);
      p.stdin.write("carls pass word\ncarls pass word\n");
      await p.stdin.end();
      expect(await p.exited).toBe(0);
      expect(query(sb, "SELECT * FROM accounts WHERE username = 'carl'")).toEqual([]);
      expect((await trySignIn(server, "carl", "carls pass word")).status).toBe(303);
      expect(query(sb, "SELECT password_hash FROM accounts WHERE username = 'carl'")).toEqual([{ password_hash: null }]);
    });

    test("changing the password on the account page goes through the provider's reset path (prosodyctl passwd)", async () => {
      const invite = await createInvite(sb);
      expect((await register(server, invite.token, "dora", "first secret 1")).status).toBe(200);
      const { browser } = await trySignIn(server, "dora", "first secret 1");
      await browser.get("/account/password");
      const wrong = await browser.post("/account/password", { current: "not it at all", password: "second secret 2", password_confirm: "second secret 2" });
      expect(wrong.status).toBe(403);
      await browser.get("/account/password");
      const r = await browser.post("/account/password", { current: "first secret 1", password: "second secret 2", password_confirm: "second secret 2" });
      expect(r.status).toBe(303);
      expect(await xmppLogin(prosody.port, "dora", "second secret 2")).toBe("ok");
      expect(await xmppLogin(prosody.port, "dora", "first secret 1")).toBe("not-authorized");
      expect(query(sb, "SELECT * FROM provision_reservations")).toEqual([]);
      expect(JSON.parse(auditEvents(sb, "account.password_changed").at(-1)!.details)).toMatchObject({ provider: "command" });
      expect(server.output()).not.toContain("second secret 2");
    });
  });
}
