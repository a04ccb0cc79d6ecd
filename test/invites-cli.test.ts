import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { cli, sandbox, type Sandbox } from "./helpers.ts";
import { migrate } from "./audit-support.ts";
import { auditEvents, createInvite, inviteRow, makeAccount, query, withRunningServer } from "./invite-helpers.ts";

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox('[hosts."example.com"]\npublic_url = "https://chat.example.com"\ninvite_ttl = "3d"\ninvite_max_ttl = "10d"\nreset_ttl = "2h"\n[hosts."other.org"]\npublic_url = "https://other.org"\n');
});
afterEach(() => sb.cleanup());

const run = (...args: string[]) => cli(args, { config: sb.config });

describe("invite create", () => {
  test("prints the landing-page URL as one line; the token is stored only as a hash", async () => {
    const r = await run("invite", "create", "example.com");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^https:\/\/chat\.example\.com\/invite\?[0-9A-Za-z]{12}[A-Za-z0-9_-]{22}\n$/);
    const token = r.stdout.trim().split("?")[1]!;
    const rows = query<{ token_hash: string; max_uses: number; kind: string; created_by: string; expires_at: number; created_at: number }>(sb, "SELECT * FROM invites");
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).not.toContain(token);
    expect(rows[0]!.token_hash).toBe(new Bun.CryptoHasher("sha256").update(token).digest("hex"));
    expect(rows[0]!.max_uses).toBe(1); // default: one use
    expect(rows[0]!.kind).toBe("account");
    expect(rows[0]!.created_by).toBe("cli");
    expect(rows[0]!.expires_at - rows[0]!.created_at).toBe(3 * 86_400_000); // host invite_ttl
    // The database file itself never holds the token in clear.
    expect(Buffer.from(await Bun.file(sb.db).arrayBuffer()).includes(Buffer.from(token))).toBe(false);
  });

  test("repeated --group and --role are all kept; --uses, --ttl, --note, --username", async () => {
    const { id } = await createInvite(sb, ["--group", "family", "--group", "friends", "--role", "prosody:member", "--role", "tester", "--uses", "5", "--ttl", "36h", "--note", "for the Smiths", "--username", "Alice"]);
    const row = query<any>(sb, "SELECT * FROM invites WHERE id = ?", id)[0];
    expect(JSON.parse(row.groups)).toEqual(["family", "friends"]);
    expect(JSON.parse(row.roles)).toEqual(["prosody:member", "tester"]);
    expect(row.max_uses).toBe(5);
    expect(row.expires_at - row.created_at).toBe(36 * 3_600_000);
    expect(row.note).toBe("for the Smiths");
    expect(row.username).toBe("alice"); // normalised like account names
    const ev = auditEvents(sb, "invite.created");
    expect(ev).toHaveLength(1);
    expect(ev[0]!.source).toBe("cli");
  });

  test("--group=a form and --unlimited", async () => {
    const { id } = await createInvite(sb, ["--group=a", "--group=b", "--unlimited"]);
    const row = query<any>(sb, "SELECT * FROM invites WHERE id = ?", id)[0];
    expect(JSON.parse(row.groups)).toEqual(["a", "b"]);
    expect(row.max_uses).toBeNull();
  });

  test("exclusive and invalid options are errors with a non-zero exit and create nothing", async () => {
    const cases: [string[], RegExp][] = [
      [["--username", "a", "--reset", "b"], /--username and --reset exclude each other/],
      [["--uses", "3", "--unlimited"], /--uses and --unlimited exclude each other/],
      [["--uses", "0"], /--uses must be a whole number/],
      [["--uses", "-2"], /--uses|ambiguous|argument/i],
      [["--uses", "2.5"], /--uses must be a whole number/],
      [["--uses", "abc"], /--uses must be a whole number/],
      [["--ttl", "forever"], /--ttl is not a valid duration/],
      [["--ttl", "11d"], /invite_max_ttl/],
      [["--username", "bad name"], /username contains spaces/],
      [["--username", "a<b>"], /forbidden characters/],
      [["--username", ""], /needs a username/],
      [["--group", "has space"], /group names/],
      [["--role", ""], /role names/],
      [["--note", "x".repeat(1001)], /note must be at most 1000/],
      [["--grup", "typo"], /Unknown option '--grup'/],
      [["--note", "a", "--note", "b"], /option --note is given more than once/],
      [["hello", "world"], /unexpected argument 'hello'/],
      [["--reset", "nobody"], /no account 'nobody' on example.com/],
    ];
    for (const [args, message] of cases) {
      const r = await run("invite", "create", "example.com", ...args);
      expect({ args, code: r.code }).toEqual({ args, code: 1 });
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
    }
    expect(query(sb, "SELECT * FROM invites")).toHaveLength(0);
  });

  test("an unknown host is an error", async () => {
    const r = await run("invite", "create", "nowhere.test");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("host 'nowhere.test' is not configured");
  });

  test("--reset for an existing account makes a reset invite with reset_ttl", async () => {
    // The CLI has no "user add": the account comes from a real web registration.
    await withRunningServer(sb, (server) => makeAccount(sb, server, "bob"));
    const { id, url } = await createInvite(sb, ["--reset", "BOB"]);
    expect(url).toContain("/invite?");
    const row = query<any>(sb, "SELECT * FROM invites WHERE id = ?", id)[0];
    expect(row.kind).toBe("reset");
    expect(row.username).toBe("bob");
    expect(row.expires_at - row.created_at).toBe(2 * 3_600_000);
  });
});

describe("invite list / show / revoke", () => {
  test("revoke with two ids is an error that revokes neither, rather than revoking the first alone", async () => {
    const a = await createInvite(sb);
    const b = await createInvite(sb);
    const r = await run("invite", "revoke", "example.com", a.id, b.id);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`unexpected argument '${b.id}'`);
    expect(query<{ revoked_at: number | null }>(sb, "SELECT revoked_at FROM invites WHERE id IN (?, ?)", a.id, b.id).map((x) => x.revoked_at)).toEqual([null, null]);
  });

  test("list shows active invites only; --all shows every status; --json has the fields", async () => {
    const a = await createInvite(sb, ["--note", "first"]);
    const b = await createInvite(sb, ["--uses", "3", "--username", "carol"]);
    const c = await createInvite(sb, ["--unlimited"]);
    expect((await run("invite", "revoke", "example.com", c.id)).code).toBe(0);
    await createInvite(sb, [], "other.org"); // another host's invites never show

    const list = await run("invite", "list", "example.com");
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^ID\s+KIND\s+USES\s+CREATED\s+EXPIRES\s+SOURCE\s+STATUS/);
    expect(lines).toHaveLength(3);
    expect(list.stdout).toContain(a.id);
    expect(list.stdout).toContain(b.id);
    expect(list.stdout).not.toContain(c.id);
    expect(list.stdout).toMatch(new RegExp(`${b.id}\\s+account\\s+0/3\\s+\\S+Z\\s+\\S+Z\\s+cli\\s+active\\s+carol`));

    const all = await run("invite", "list", "example.com", "--all", "--json");
    expect(all.code).toBe(0);
    const rows = JSON.parse(all.stdout) as any[];
    expect(rows.map((r) => r.id).sort()).toEqual([a.id, b.id, c.id].sort());
    const revoked = rows.find((r) => r.id === c.id);
    expect(revoked).toMatchObject({ kind: "account", status: "revoked", max_uses: null, uses: 0, created_by: "cli" });
    expect(revoked.revoked_at).toMatch(/Z$/);
    expect(rows.find((r) => r.id === a.id)).toMatchObject({ note: "first", status: "active", max_uses: 1 });
    for (const r of rows) expect(Object.keys(r)).toEqual(expect.arrayContaining(["id", "kind", "uses", "max_uses", "created_at", "expires_at", "created_by", "status"]));
  });

  test("list of a host with no invites prints nothing on stdout", async () => {
    await migrate(sb);
    const r = await run("invite", "list", "example.com");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect((await run("invite", "list", "example.com", "--json")).stdout.trim()).toBe("[]");
  });

  test("show prints the invite; unknown ids and other hosts' ids are not found", async () => {
    const a = await createInvite(sb, ["--group", "g1", "--note", "hello"]);
    const r = await run("invite", "show", "example.com", a.id);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`id:       ${a.id}`);
    expect(r.stdout).toContain("groups:   g1");
    expect(r.stdout).toContain("note:     hello");
    expect(r.stdout).toContain("not used yet");
    const json = JSON.parse((await run("invite", "show", "example.com", a.id, "--json")).stdout);
    expect(json).toMatchObject({ id: a.id, groups: ["g1"], redemptions: [] });
    for (const [host, id] of [["example.com", "nope"], ["other.org", a.id]] as const) {
      const missing = await run("invite", "show", host, id);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe("Error: invite not found\n");
    }
  });

  test("revoke: unknown id is `Error: invite not found` (exit 1); revoking twice is fine and audited once", async () => {
    await migrate(sb);
    const missing = await run("invite", "revoke", "example.com", "doesnotexist");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("Error: invite not found\n");
    const a = await createInvite(sb);
    expect((await run("invite", "revoke", "example.com", a.id)).code).toBe(0);
    expect((await run("invite", "revoke", "example.com", a.id)).code).toBe(0);
    expect(inviteRow(sb, a.id).revoked_at).toBeNumber();
    expect(auditEvents(sb, "invite.revoked")).toHaveLength(1);
    // Another host cannot revoke it.
    const b = await createInvite(sb);
    expect((await run("invite", "revoke", "other.org", b.id)).code).toBe(1);
    expect(inviteRow(sb, b.id).revoked_at).toBeNull();
  });

  test("missing arguments print usage and exit non-zero", async () => {
    expect((await run("invite", "show", "example.com")).code).not.toBe(0);
    expect((await run("invite", "revoke")).code).not.toBe(0);
    expect((await run("invite", "frobnicate", "example.com")).code).not.toBe(0);
  });
});
