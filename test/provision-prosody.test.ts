// End to end with a real downstream: a Prosody started on loopback with a temporary config and data directory, the
// command provider running prosodyctl (password on stdin), and a real XMPP client logging in with the result.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { auditEvents, createInvite, inviteRow, query, register } from "./invite-helpers.ts";
import { PROSODY, PROSODYCTL, eventually, startProsody, xmppLogin, type Prosody } from "./provision-helpers.ts";

const HOST = "example.com";

if (!PROSODY || !PROSODYCTL) {
  if (process.env.CI) {
    test("prosody is installed (required in CI)", () => {
      throw new Error("prosody/prosodyctl not found on PATH: .ci/run installs Debian's prosody package");
    });
  } else {
    console.warn("provision-prosody.test.ts: skipped, prosody is not installed (apt-get install -y prosody)");
    test.skip("registration through invited creates a real Prosody account (needs prosody)", () => {});
  }
} else {
  describe("command provider with a real Prosody", () => {
    let prosody: Prosody;
    let sb: Sandbox;
    let server: TestServer;

    beforeAll(async () => {
      prosody = await startProsody();
      const ctl = (verb: string) => JSON.stringify([PROSODYCTL, "--config", prosody.config, verb, "{username}@{host}"]);
      sb = sandbox(`[hosts."${HOST}"]
public_url = "https://${HOST}"

[hosts."${HOST}".provision]
type = "command"
command = ${ctl("adduser")}
reset_command = ${ctl("passwd")}
stdin = "{password}\\n{password}\\n"
timeout = "30s"
`);
      server = await startServer(sb);
    });

    afterAll(async () => {
      await server?.stop();
      sb?.cleanup();
      await prosody?.stop();
    });

    test("a web registration creates the account in Prosody: its password logs in, a wrong one does not", async () => {
      const invite = await createInvite(sb);
      const r = await register(server, invite.token, "Alice", "correct horse battery");
      expect(r.status).toBe(200);
      expect(await r.text()).toContain("alice@example.com");
      expect(query<{ password_hash: string | null }>(sb, "SELECT password_hash FROM accounts WHERE username = 'alice'")[0]!.password_hash).toBeNull();
      expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });

      expect(await xmppLogin(prosody.port, HOST, "alice", "correct horse battery")).toBe("ok");
      expect(await xmppLogin(prosody.port, HOST, "alice", "wrong horse battery")).toBe("not-authorized");
      expect(await xmppLogin(prosody.port, HOST, "nobody", "correct horse battery")).toBe("not-authorized");
      expect(server.output()).not.toContain("correct horse battery");
    });

    test("a reset invite sets the new password in Prosody (prosodyctl passwd)", async () => {
      const invite = await createInvite(sb);
      expect((await register(server, invite.token, "dora", "first password 1")).status).toBe(200);
      const reset = await createInvite(sb, ["--reset", "dora"]);
      expect((await register(server, reset.token, "dora", "second password 2")).status).toBe(200);
      expect(await xmppLogin(prosody.port, HOST, "dora", "second password 2")).toBe("ok");
      expect(await xmppLogin(prosody.port, HOST, "dora", "first password 1")).toBe("not-authorized");
    });

    test("a name that already exists in Prosody: prosodyctl refuses, the person is asked to try again, the invite still works", async () => {
      const direct = Bun.spawn([PROSODYCTL!, "--config", prosody.config, "adduser", "bob@example.com"], { stdin: new TextEncoder().encode("bobs own pw\nbobs own pw\n"), stdout: "pipe", stderr: "pipe" });
      expect(await direct.exited).toBe(0);

      const invite = await createInvite(sb);
      const r = await register(server, invite.token, "bob", "someone else's pw");
      expect(r.status).toBe(503);
      const failed = auditEvents(sb, "provision.failed");
      expect(JSON.parse(failed.at(-1)!.details)).toMatchObject({ provider: "command", reason: "exit_1" });
      await eventually(() => server.output().includes("That user already exists"), 5000, "prosodyctl's message in the log");
      expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
      // Bob's own password still works, and the invite creates another account.
      expect(await xmppLogin(prosody.port, HOST, "bob", "bobs own pw")).toBe("ok");
      expect((await register(server, invite.token, "carol", "a fine passphrase")).status).toBe(200);
      expect(await xmppLogin(prosody.port, HOST, "carol", "a fine passphrase")).toBe("ok");
    });
  });
}
