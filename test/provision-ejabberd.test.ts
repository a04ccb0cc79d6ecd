// End to end with a real ejabberd (Debian's 23.01): started on loopback ports with its own config and Mnesia spool
// (no Erlang distribution, so no epmd and no node name to collide with), provisioned by the built-in ejabberd
// provider over mod_http_api. A web registration, then an XMPP login; a reset invite changes the password; user
// delete removes the account; no password ever appears in any process's argv.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, freePort, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { accountCount, auditEvents, createInvite, inviteRow, query, register } from "./invite-helpers.ts";
import { provisionConfigErrorTests } from "./provision-helpers.ts";
import { listening, spawnDaemon, tempDir, waitReady, watchArgv, xmppLogin, type Daemon } from "./downstream-helpers.ts";

const ERL = Bun.which("erl");
const EJABBERDCTL = Bun.which("ejabberdctl") ?? (existsSync("/usr/sbin/ejabberdctl") ? "/usr/sbin/ejabberdctl" : null);
const HOST = "example.com";

/** Where Debian keeps ejabberd's Erlang applications: the ERL_LIBS that ejabberdctl sets. */
function ejabberdLibs(): string {
  const m = /^ERL_LIBS='?([^'\n]+)'?/m.exec(readFileSync(EJABBERDCTL!, "utf8"));
  return m?.[1] ?? "/usr/lib/x86_64-linux-gnu";
}

interface Ejabberd extends Daemon {
  c2s: number;
  api: string;
}

async function startEjabberd(): Promise<Ejabberd> {
  const dir = tempDir("invited-ejabberd-");
  mkdirSync(join(dir, "spool"));
  const c2s = freePort();
  const http = freePort();
  const config = join(dir, "ejabberd.yml");
  writeFileSync(
    config,
    `# Temporary ejabberd for invited's provisioning test.
hosts:
  - ${HOST}
loglevel: info
log_rotate_count: 0
certfiles: []
listen:
  - port: ${c2s}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: false
  - port: ${http}
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /api: mod_http_api
auth_method: internal
auth_password_format: scram
api_permissions:
  "register from loopback":
    from: mod_http_api
    who:
      ip: 127.0.0.1/8
    what:
      - register
  "invited":
    from: mod_http_api
    who:
      user: invited@${HOST}
    what:
      - change_password
      - ban_account
      - unban_account
      - unregister
modules:
  mod_admin_extra: {}
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
`,
  );
  const log = join(dir, "ejabberd.log");
  const d = spawnDaemon([ERL!, "-noinput", "-noshell", "-mnesia", "dir", JSON.stringify(join(dir, "spool")), "-s", "ejabberd"], dir, {
    EJABBERD_CONFIG_PATH: config,
    EJABBERD_LOG_PATH: log,
    ERL_LIBS: ejabberdLibs(),
    ERL_CRASH_DUMP: join(dir, "erl_crash.dump"),
    HOME: dir,
  });
  await waitReady(d, async () => (await listening(c2s)) && (await listening(http)), "ejabberd to listen", log);
  return { ...d, c2s, api: `http://127.0.0.1:${http}/api` };
}

if (!ERL || !EJABBERDCTL) {
  if (process.env.CI) {
    test("ejabberd is installed (required in CI)", () => {
      throw new Error("erl/ejabberdctl not found: .ci/run installs Debian's ejabberd package");
    });
  } else {
    console.warn("provision-ejabberd.test.ts: skipped, ejabberd is not installed (apt-get install -y ejabberd)");
    test.skip("registration through invited creates a real ejabberd account (needs ejabberd)", () => {});
  }
} else {
  describe("ejabberd provider with a real ejabberd", () => {
    let ej: Ejabberd;
    let sb: Sandbox;
    let server: TestServer;
    const API_PASSWORD = "api secret of invited 7";

    beforeAll(async () => {
      ej = await startEjabberd();
      // invited's own ejabberd account, the one api_permissions allows (registered through the loopback rule).
      const r = await fetch(`${ej.api}/register`, { method: "POST", body: JSON.stringify({ user: "invited", host: HOST, password: API_PASSWORD }) });
      expect(r.status).toBe(200);
      sb = sandbox();
      writeFileSync(join(sb.dir, "api-password"), `${API_PASSWORD}\n`, { mode: 0o600 });
      writeFileSync(
        sb.config,
        readFileSync(sb.config, "utf8").replace(/\[hosts\.[\s\S]*$/, "") +
          `[hosts."${HOST}"]
public_url = "https://${HOST}"

[hosts."${HOST}".provision]
type = "ejabberd"
url = "${ej.api}"
api_user = "invited@${HOST}"
api_password_file = ${JSON.stringify(join(sb.dir, "api-password"))}
timeout = "15s"

[limits]
registration_rate = "off"
`,
      );
      server = await startServer(sb);
    }, 60_000);

    afterAll(async () => {
      await server?.stop();
      sb?.cleanup();
      await ej?.stop();
    });

    test("register on the web, log in over XMPP; a reset invite changes the password; user delete removes the account; no password in any argv", async () => {
      const watch = watchArgv();
      try {
        const invite = await createInvite(sb);
        const r = await register(server, invite.token, "Alice", "first password 1");
        expect(r.status).toBe(200);
        expect(await r.text()).toContain(`alice@${HOST}`);
        expect(query<{ password_hash: string | null }>(sb, "SELECT password_hash FROM accounts WHERE username = 'alice'")[0]!.password_hash).toBeNull();
        expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });
        expect(await xmppLogin(ej.c2s, HOST, "alice", "first password 1")).toBe("ok");
        expect(await xmppLogin(ej.c2s, HOST, "alice", "wrong password 1")).toBe("not-authorized");

        const reset = await createInvite(sb, ["--reset", "alice"]);
        expect((await register(server, reset.token, "alice", "second password 2")).status).toBe(200);
        expect(await xmppLogin(ej.c2s, HOST, "alice", "second password 2")).toBe("ok");
        expect(await xmppLogin(ej.c2s, HOST, "alice", "first password 1")).toBe("not-authorized");

        const del = await cli(["user", "delete", HOST, "alice"], { config: sb.config });
        expect(del.stderr).toContain("deleted on the real server (ejabberd provider)");
        expect(del.code).toBe(0);
        expect(await xmppLogin(ej.c2s, HOST, "alice", "second password 2")).toBe("not-authorized");
        expect(accountCount(sb)).toBe(0);
        // The name is free again, on both sides.
        const again = await createInvite(sb);
        expect((await register(server, again.token, "alice", "third password 3")).status).toBe(200);
        expect(await xmppLogin(ej.c2s, HOST, "alice", "third password 3")).toBe("ok");
      } finally {
        const argv = await watch.stop();
        expect(argv.length).toBeGreaterThan(10);
        for (const secret of ["first password 1", "second password 2", API_PASSWORD]) expect(argv.filter((a) => a.includes(secret))).toEqual([]);
      }
      expect(server.output()).not.toContain("first password 1");
    }, 120_000);

    test("a name that exists in ejabberd only: 'already in use' (409), the invite keeps its use", async () => {
      const direct = await fetch(`${ej.api}/register`, { method: "POST", body: JSON.stringify({ user: "bob", host: HOST, password: "bobs own pw" }) });
      expect(direct.status).toBe(200);
      const invite = await createInvite(sb);
      const r = await register(server, invite.token, "bob", "someone else's pw");
      expect(r.status).toBe(409);
      expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
      expect(await xmppLogin(ej.c2s, HOST, "bob", "bobs own pw")).toBe("ok");
    });

    test("ejabberd refuses (a host it does not serve): 'please try again' (503), its message in the log, the use released", async () => {
      const other = sandbox(`[hosts."example.net"]
public_url = "https://example.net"
[hosts."example.net".provision]
type = "ejabberd"
url = "${ej.api}"
`);
      const s2 = await startServer(other);
      try {
        const invite = await createInvite(other, [], "example.net");
        const r = await register(s2, invite.token, "frida", "a fine passphrase");
        expect(r.status).toBe(503);
        expect(inviteRow(other, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
        const failed = auditEvents(other, "provision.failed").at(-1)!;
        expect(JSON.parse(failed.details)).toMatchObject({ kind: "account", provider: "ejabberd", reason: "http_500" });
        expect(s2.output()).toContain("Unknown virtual host");
      } finally {
        await s2.stop();
        other.cleanup();
      }
    });

    test("disable bans the account (login fails); enable is not supported by 23.01 and says so", async () => {
      const invite = await createInvite(sb);
      expect((await register(server, invite.token, "carol", "the first secret")).status).toBe(200);
      const { EjabberdProvider } = await import("../src/provisioning/ejabberd.ts");
      const { loadConfig } = await import("../src/config/index.ts");
      const p = new EjabberdProvider(loadConfig(sb.config).hosts[HOST]!.provision);
      const target = { host: HOST, username: "carol", groups: [], roles: [] };
      expect(await p.disable(target)).toEqual({ result: "done" });
      expect(await xmppLogin(ej.c2s, HOST, "carol", "the first secret")).toBe("not-authorized");
      expect(await p.enable(target)).toMatchObject({ result: "failed", reason: "not_supported", detail: expect.stringContaining("password-reset invite") });
      // The way back: a reset invite sets a password that works.
      const reset = await createInvite(sb, ["--reset", "carol"]);
      expect((await register(server, reset.token, "carol", "the second secret")).status).toBe(200);
      expect(await xmppLogin(ej.c2s, HOST, "carol", "the second secret")).toBe("ok");
    });

    test("a wrong API password: the reset fails cleanly (401), the old password still works, the reset invite still works later", async () => {
      const invite = await createInvite(sb);
      expect((await register(server, invite.token, "dora", "old and good")).status).toBe(200);
      const reset = await createInvite(sb, ["--reset", "dora"]);
      writeFileSync(join(sb.dir, "api-password"), "not the password\n");
      const wrong = await startServer(sb);
      try {
        const r = await register(wrong, reset.token, "dora", "new and better");
        expect(r.status).toBe(503);
        expect(JSON.parse(auditEvents(sb, "provision.failed").at(-1)!.details)).toMatchObject({ kind: "reset", provider: "ejabberd", reason: "http_401" });
        const del = await cli(["user", "delete", HOST, "dora"], { config: sb.config });
        expect(del.code).toBe(1);
        expect(del.stderr).toContain("not authorized");
        expect(accountCount(sb, HOST)).toBeGreaterThan(0);
      } finally {
        await wrong.stop();
        writeFileSync(join(sb.dir, "api-password"), `${API_PASSWORD}\n`);
      }
      expect(await xmppLogin(ej.c2s, HOST, "dora", "old and good")).toBe("ok");
      expect(inviteRow(sb, reset.id)).toMatchObject({ uses: 0, reserved: 0 });
      expect((await register(server, reset.token, "dora", "new and better")).status).toBe(200);
      expect(await xmppLogin(ej.c2s, HOST, "dora", "new and better")).toBe("ok");
    });
  });

  describe("ejabberd down", () => {
    test("nothing listening: 'please try again', the use released", async () => {
      const sb = sandbox(`[hosts."${HOST}"]
public_url = "https://${HOST}"
[hosts."${HOST}".provision]
type = "ejabberd"
url = "http://127.0.0.1:${freePort()}/api"
timeout = "2s"
`);
      const server = await startServer(sb);
      try {
        const invite = await createInvite(sb);
        const r = await register(server, invite.token, "erin", "a fine passphrase");
        expect(r.status).toBe(503);
        expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
        expect(JSON.parse(auditEvents(sb, "provision.failed").at(-1)!.details)).toMatchObject({ provider: "ejabberd", reason: "network_error" });
      } finally {
        await server.stop();
        sb.cleanup();
      }
    });
  });
}

describe("ejabberd provider config", () => {
  provisionConfigErrorTests([
    ["url is required", 'type = "ejabberd"', /provision\.url' is required when type = "ejabberd"/],
    ["plain http to another machine is refused", 'type = "ejabberd"\nurl = "http://xmpp.example.com:5281/api"', /must be https:\/\/ unless it is a loopback address/],
    ["api_user needs api_password_file", 'type = "ejabberd"\nurl = "http://127.0.0.1:5281/api"\napi_user = "invited@example.com"', /api_password_file' is required/],
    ["an unreadable api_password_file", 'type = "ejabberd"\nurl = "https://xmpp.example.com/api"\napi_user = "invited@example.com"\napi_password_file = "/nonexistent/pw"', /cannot read "\/nonexistent\/pw": ENOENT/],
    ["api_user must be an address", 'type = "ejabberd"\nurl = "http://[::1]:5281/api"\napi_user = "invited"\napi_password_file = "/etc/hostname"', /must be an account's address/],
    ["command settings are not ejabberd settings", 'type = "ejabberd"\nurl = "http://127.0.0.1:5281/api"\ncommand = ["x"]', /provision\.command' is not a known setting/],
  ]);
});
