// End to end with a real downstream: a Prosody started on loopback with a temporary config and data directory, the
// command provider running prosodyctl (password on stdin), and a real XMPP client logging in with the result.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { cli, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { HOST, PROSODY, PROSODYCTL, startProsody, xmppLogin, type Prosody } from "./prosody-helpers.ts";
import { auditEvents, createInvite, inviteRow, query, register } from "./invite-helpers.ts";
import { eventually } from "./provision-helpers.ts";

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
delete_command = ${ctl("deluser")}
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

      expect(await xmppLogin(prosody.port, "alice", "correct horse battery")).toBe("ok");
      expect(await xmppLogin(prosody.port, "alice", "wrong horse battery")).toBe("not-authorized");
      expect(await xmppLogin(prosody.port, "nobody", "correct horse battery")).toBe("not-authorized");
      expect(server.output()).not.toContain("correct horse battery");
    });

    test("a reset invite sets the new password in Prosody (prosodyctl passwd)", async () => {
      const invite = await createInvite(sb);
      expect((await register(server, invite.token, "dora", "first password 1")).status).toBe(200);
      const reset = await createInvite(sb, ["--reset", "dora"]);
      expect((await register(server, reset.token, "dora", "second password 2")).status).toBe(200);
      expect(await xmppLogin(prosody.port, "dora", "second password 2")).toBe("ok");
      expect(await xmppLogin(prosody.port, "dora", "first password 1")).toBe("not-authorized");
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
      expect(await xmppLogin(prosody.port, "bob", "bobs own pw")).toBe("ok");
      expect((await register(server, invite.token, "carol", "a fine passphrase")).status).toBe(200);
      expect(await xmppLogin(prosody.port, "carol", "a fine passphrase")).toBe("ok");
    });

    test("bob + U+034F (and other invisible characters Prosody strips) is refused before Prosody is asked: Prosody's bob stays untouched", async () => {
      // bob exists in Prosody with his own password (made directly; the test above may have made him already).
      const direct = Bun.spawn([PROSODYCTL!, "--config", prosody.config, "adduser", "bob@example.com"], { stdin: new TextEncoder().encode("bobs own pw\nbobs own pw\n"), stdout: "pipe", stderr: "pipe" });
      await direct.exited;
      expect(await xmppLogin(prosody.port, "bob", "bobs own pw")).toBe("ok");
      const failuresBefore = auditEvents(sb, "provision.failed").length;
      for (const name of ["bob\u034F", "bob\uFE0F", "b\u200Dob", "bo\u00ADb", "mallory\u034F"]) {
        const invite = await createInvite(sb);
        const r = await register(server, invite.token, name, "the attacker's pw");
        expect(r.status).toBe(400);
        expect(await r.text()).toContain("invisible or blank characters");
        expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
      }
      expect(auditEvents(sb, "provision.failed")).toHaveLength(failuresBefore); // prosodyctl was never run
      expect(query(sb, "SELECT username FROM accounts WHERE username LIKE 'b%b%' OR username LIKE 'mallory%'")).toEqual([]);
      expect(await xmppLogin(prosody.port, "bob", "bobs own pw")).toBe("ok");
      expect(await xmppLogin(prosody.port, "bob", "the attacker's pw")).toBe("not-authorized");
      expect(await xmppLogin(prosody.port, "mallory", "the attacker's pw")).toBe("not-authorized");
    });

    test("a Japanese name with Latin letters reaches Prosody exactly as invited stores it", async () => {
      const invite = await createInvite(sb);
      const r = await register(server, invite.token, "\u5C71\u7530Taro", "a japanese passphrase");
      expect(r.status).toBe(200);
      expect(await r.text()).toContain("\u5C71\u7530taro@example.com");
      // Prosody's internal storage names the account file after the node, each non-alphanumeric byte as %xx.
      // (@xmpp/client's SASL cannot send a non-Latin-1 username, so the file is the check.)
      const node = [...new TextEncoder().encode("\u5C71\u7530taro")].map((b) => (/[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, "0")}`)).join("");
      expect(existsSync(join(prosody.dir, "data", "example%2ecom", "accounts", `${node}.dat`))).toBe(true);
    });

    test("invited user delete runs prosodyctl deluser first: the XMPP login is refused afterwards; a failing deluser keeps the account", async () => {
      const invite = await createInvite(sb);
      expect((await register(server, invite.token, "gus", "a long passphrase 1")).status).toBe(200);
      expect(await xmppLogin(prosody.port, "gus", "a long passphrase 1")).toBe("ok");
      const r = await cli(["user", "delete", HOST, "gus"], { config: sb.config });
      expect(r.stderr).toContain("deleted on the real server (command provider)");
      expect(r.code).toBe(0);
      expect(await xmppLogin(prosody.port, "gus", "a long passphrase 1")).toBe("not-authorized");
      expect(query(sb, "SELECT 1 FROM accounts WHERE username = 'gus'")).toHaveLength(0);

      // An account invited knows but Prosody does not (removed there by hand): prosodyctl deluser fails, so invited
      // keeps its row and says why; --local-only then removes it on purpose.
      const second = await createInvite(sb);
      expect((await register(server, second.token, "hal", "a long passphrase 2")).status).toBe(200);
      const direct = Bun.spawn([PROSODYCTL!, "--config", prosody.config, "deluser", `hal@${HOST}`], { stdout: "pipe", stderr: "pipe" });
      expect(await direct.exited).toBe(0);
      const refused = await cli(["user", "delete", HOST, "hal"], { config: sb.config });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("invited's account is unchanged");
      expect(query(sb, "SELECT 1 FROM accounts WHERE username = 'hal'")).toHaveLength(1);
      expect(JSON.parse(auditEvents(sb, "provision.failed").at(-1)!.details)).toMatchObject({ kind: "delete", provider: "command" });
      expect((await cli(["user", "delete", HOST, "hal", "--local-only"], { config: sb.config })).code).toBe(0);
      expect(query(sb, "SELECT 1 FROM accounts WHERE username = 'hal'")).toHaveLength(0);
    });
  });
}
