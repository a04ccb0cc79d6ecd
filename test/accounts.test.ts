import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { cli, get, sandbox, type Sandbox } from "./helpers.ts";
import { migrate } from "./audit-support.ts";
import { auditEvents, createInvite, inviteRow, makeAccount, query, register, withRunningServer } from "./invite-helpers.ts";

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox('[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."other.org"]\npublic_url = "https://other.org"\n');
});
afterEach(() => sb.cleanup());

const run = (...args: string[]) => cli(args, { config: sb.config });

describe("user list", () => {
  test("before any database exists, a listing says so and creates none", async () => {
    const r = await run("user", "list", "example.com");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: no database at ${sb.db} (set [database] path in the config file, or INVITED_DATABASE)\n`);
    expect(existsSync(sb.db)).toBe(false);
  });

  test("empty host: nothing on stdout, [] as JSON", async () => {
    await migrate(sb);
    const r = await run("user", "list", "example.com");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(JSON.parse((await run("user", "list", "example.com", "--json")).stdout)).toEqual([]);
  });

  test("lists a host's accounts with roles, groups, invite and inviter; never a hash", async () => {
    const invite = await createInvite(sb, ["--role", "member", "--group", "team"]);
    await withRunningServer(sb, async (server) => {
      expect((await register(server, invite.token, "zoe", "correct horse battery")).status).toBe(200);
      await makeAccount(sb, server, "adam");
    });
    const table = await run("user", "list", "example.com");
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^USERNAME\s+CREATED\s+ROLES\s+GROUPS\s+INVITE\s+INVITED BY$/);
    expect(lines[1]).toMatch(/^adam\s/);
    expect(lines[2]).toMatch(new RegExp(`^zoe\\s+\\S+Z\\s+member\\s+team\\s+${invite.id}\\s+cli$`));
    expect(table.stdout).not.toContain("argon2");
    const json = JSON.parse((await run("user", "list", "example.com", "--json")).stdout);
    expect(json).toHaveLength(2);
    expect(json[1]).toMatchObject({ username: "zoe", host: "example.com", address: "zoe@example.com", roles: ["member"], groups: ["team"], invite_id: invite.id, invited_by: "cli" });
    expect(JSON.stringify(json)).not.toContain("argon2");
    expect(JSON.parse((await run("user", "list", "other.org", "--json")).stdout)).toEqual([]);
  });

  test("an unknown host or option is an error", async () => {
    expect((await run("user", "list", "nowhere.test")).code).toBe(1);
    const typo = await run("user", "list", "example.com", "--jsno");
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain("Unknown option '--jsno'");
  });
});

describe("user delete", () => {
  test("deletes (case-insensitively), audits, keeps the ledger; the name can be registered again", async () => {
    const invite = await createInvite(sb, ["--uses", "2"]);
    await withRunningServer(sb, async (server) => {
      expect((await register(server, invite.token, "yves", "correct horse battery")).status).toBe(200);
      const del = await run("user", "delete", "example.com", "YVES");
      expect(del.code).toBe(0);
      expect(query(sb, "SELECT * FROM accounts")).toHaveLength(0);
      const ev = auditEvents(sb, "account.deleted");
      expect(ev).toHaveLength(1);
      expect(ev[0]).toMatchObject({ user: "yves", host: "example.com", source: "cli" });
      // The ledger still says who used the invite.
      const show = await run("invite", "show", "example.com", invite.id, "--json");
      expect(JSON.parse(show.stdout).redemptions).toMatchObject([{ username: "yves", source: "web" }]);
      // Deleting frees the name.
      expect((await register(server, invite.token, "yves", "another good password")).status).toBe(200);
    });
    expect(query(sb, "SELECT * FROM redemptions WHERE invite_id = ?", invite.id)).toHaveLength(2);
  });

  test("an unknown account is `Error: account not found`, exit 1; another host's account is not touched", async () => {
    await migrate(sb);
    const r = await run("user", "delete", "example.com", "ghost");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: account not found\n");
    await withRunningServer(sb, (server) => makeAccount(sb, server, "kept"));
    expect((await run("user", "delete", "other.org", "kept")).code).toBe(1);
    expect(query(sb, "SELECT * FROM accounts")).toHaveLength(1);
    expect((await run("user", "delete", "example.com")).code).not.toBe(0);
  });
});

describe("ledger", () => {
  test("survives the invite's expiry and the account's deletion", async () => {
    const invite = await createInvite(sb, ["--uses", "3", "--ttl", "2s"]);
    await withRunningServer(sb, async (server) => {
      expect((await register(server, invite.token, "lena", "correct horse battery")).status).toBe(200);
    });
    expect((await run("user", "delete", "example.com", "lena")).code).toBe(0);
    await Bun.sleep(Math.max(0, inviteRow(sb, invite.id).expires_at - Date.now()) + 20);
    const show = await run("invite", "show", "example.com", invite.id);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain("status:   expired");
    expect(show.stdout).toMatch(/USED BY\s+WHEN\s+VIA\nlena@example\.com\s+\S+Z\s+web/);
    const ledger = query<any>(sb, "SELECT * FROM redemptions WHERE invite_id = ?", invite.id);
    expect(ledger).toMatchObject([{ username: "lena", host: "example.com", kind: "account", invite_created_by: "cli", source: "web" }]);
    // Expired invites are listed only with --all.
    expect((await run("invite", "list", "example.com")).stdout).not.toContain(invite.id);
    expect((await run("invite", "list", "example.com", "--all")).stdout).toContain(invite.id);
  });
});

describe("password hashing", () => {
  test("argon2id, and the server keeps answering while registrations hash", async () => {
    const invite = await createInvite(sb, ["--unlimited"]);
    await withRunningServer(sb, async (server) => {
      let finishedRegistrations = 0;
      const registrations = Array.from({ length: 8 }, (_, i) =>
        register(server, invite.token, `hash${i}`, "correct horse battery").then(async (r) => {
          await r.arrayBuffer();
          finishedRegistrations++;
          return r.status;
        }),
      );
      await Bun.sleep(20);
      // Eight hashes take several hundred ms on two cores; a blocking hash would hold this answer back behind them.
      const health = await get(`${server.url}/healthz`);
      expect(health.status).toBe(200);
      expect(finishedRegistrations).toBeLessThan(8);
      expect(await Promise.all(registrations)).toEqual(Array(8).fill(200));
    });
    const hashes = query<{ password_hash: string }>(sb, "SELECT password_hash FROM accounts");
    expect(hashes).toHaveLength(8);
    for (const { password_hash } of hashes) expect(password_hash).toMatch(/^\$argon2id\$v=19\$m=65536,t=2,p=1\$/);
    expect(new Set(hashes.map((h) => h.password_hash)).size).toBe(8); // salted
  });
});
