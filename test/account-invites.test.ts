// Invites that members make on /account/invites, over real HTTP: the quota ([hosts.X.user_invites]) decided in the
// same write as the insert (20 parallel POSTs with quota 2 make exactly 2), the creator account/<user>@<host> in the
// invite, the account, the ledger, the audit event and the notification; status and who used each invite; the link
// and QR code once; revoke; uses, ttl, min_account_age and roles_unlimited; never roles or groups.
import { describe, expect, test } from "bun:test";
import { cli, get, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { auditEvents, query, register } from "./invite-helpers.ts";
import { Browser, alertOf, signedIn } from "./account-helpers.ts";
import { newSecret, startReceiver } from "./provision-helpers.ts";

const PW = "correct horse battery";

async function withHost(userInvites: string, fn: (server: TestServer, sb: Sandbox) => Promise<void>, extra = ""): Promise<void> {
  const sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\ninvite_max_ttl = "30d"\n[hosts."example.com".user_invites]\n${userInvites}\n${extra}\n[limits]\nsignin_rate = "off"\nsignin_account_rate = "off"\n`);
  const server = await startServer(sb);
  try {
    await fn(server, sb);
  } finally {
    await server.stop();
    sb.cleanup();
  }
}

async function member(server: TestServer, sb: Sandbox, name: string, cliArgs: string[] = []): Promise<Browser> {
  const r = await cli(["invite", "create", "example.com", ...cliArgs], { config: sb.config });
  expect(r.code).toBe(0);
  expect((await register(server, r.stdout.trim().split("?")[1]!, name, PW)).status).toBe(200);
  return signedIn(server, name, PW);
}

const linkOf = (html: string) => /<input id="link" value="(https:\/\/example\.com\/invite\?[^"]+)" readonly/.exec(html)?.[1] ?? null;

describe("member invites", () => {
  test("off by default: the page says so and a POST makes nothing", async () => {
    await withHost("", async (server, sb) => {
      const alice = await member(server, sb, "alice");
      const page = await alice.get("/account/invites");
      expect(page.status).toBe(200);
      expect(page.text).toContain("Members of this server can&#39;t create invites.");
      expect(page.text).not.toContain("Create an invite");
      const r = await alice.post("/account/invites", {});
      expect(r.status).toBe(403);
      expect(query(sb, "SELECT id FROM invites WHERE created_by LIKE 'account/%'")).toEqual([]);
    });
  });

  test("quota 2: twenty parallel POSTs create exactly two invites", async () => {
    await withHost('quota = 2\nperiod = "30d"', async (server, sb) => {
      const alice = await member(server, sb, "alice");
      await alice.get("/account/invites");
      const results = await Promise.all(Array.from({ length: 20 }, () => alice.post("/account/invites", {})));
      const statuses = results.map((r) => r.status).sort();
      expect(statuses.filter((s) => s === 201)).toHaveLength(2);
      expect(statuses.filter((s) => s === 403)).toHaveLength(18);
      expect(query(sb, "SELECT id FROM invites WHERE created_by = 'account/alice@example.com'")).toHaveLength(2);
      const refused = results.find((r) => r.status === 403)!;
      expect(alertOf(refused.text)).toMatch(/used all 2 of your invites for now/);
      expect(auditEvents(sb, "invite.created").filter((e) => e.user === "alice")).toHaveLength(2);
      // Revoking one does not give the quota back.
      const page = await alice.get("/account/invites");
      expect(page.text).toContain("You&#39;ve used all 2 of your invites for now.");
    });
  });

  test("the invite: creator account/<user>@<host>, one use, the host's ttl, no roles; the link and QR shown once; bob joins with it", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret]);
    try {
      await withHost(
        'quota = 5\nttl = "2d"\nuses = 1',
        async (server, sb) => {
          const alice = await member(server, sb, "alice", ["--role", "moderator", "--group", "team"]);
          await alice.get("/account/invites");
          const made = await alice.post("/account/invites", { note: "for Bob" });
          expect(made.status).toBe(201);
          expect(made.text).toContain('<svg role="img" aria-label="QR code of your new invite link"');
          const link = linkOf(made.text)!;
          const [row] = query<any>(sb, "SELECT * FROM invites WHERE created_by LIKE 'account/%'");
          expect(row).toMatchObject({ created_by: "account/alice@example.com", max_uses: 1, roles: "[]", groups: "[]", note: "for Bob", kind: "account" });
          expect(row.expires_at - row.created_at).toBe(2 * 86_400_000);
          // The list never shows the link again (only its hash is stored).
          const list = await alice.get("/account/invites");
          expect(linkOf(list.text)).toBeNull();
          expect(list.text).toContain("Open");
          expect(list.text).toContain("Nobody yet");

          const token = link.split("?")[1]!;
          expect((await get(`${server.url}/invite?${token}`)).status).toBe(200);
          expect((await register(server, token, "bob", PW, { "X-Forwarded-For": "81.2.69.142" })).status).toBe(200);
          expect(query(sb, "SELECT invited_by, roles, groups FROM accounts WHERE username = 'bob'")).toEqual([{ invited_by: "account/alice@example.com", roles: "[]", groups: "[]" }]);
          expect(query(sb, "SELECT invite_created_by FROM redemptions WHERE username = 'bob'")).toEqual([{ invite_created_by: "account/alice@example.com" }]);
          expect(JSON.parse(auditEvents(sb, "account.registered").at(-1)!.details)).toMatchObject({ invited_by: "account/alice@example.com", roles: [], groups: [] });
          const notes = await receiver.waitFor(4); // alice's CLI invite and account, her invite, bob's account
          const created = notes.find((n) => n.json.type === "account.created" && n.json.data.username === "bob")!;
          expect(created.json.data).toMatchObject({ invited_by: "account/alice@example.com" });
          expect(notes.filter((n) => n.json.type === "invite.created").map((n) => n.json.data.created_by ?? null).sort()).toEqual(["account/alice@example.com", null]);

          // alice sees that bob used it, never where he came from.
          const after = await alice.get("/account/invites");
          expect(after.text).toContain('<bdi class="addr">bob@example.com</bdi>');
          expect(after.text).toContain("Used");
          expect(after.text).not.toContain("United Kingdom");
          expect(after.text).not.toContain("81.2.69");
        },
        `[[notify]]\nurl = "${receiver.url}"\nsecret = "${secret}"\nevents = ["invite.created", "account.created"]\nretry_delay = "1s"\n`,
      );
    } finally {
      receiver.stop();
    }
  });

  test("revoke: the link stops working; someone else's invite cannot be revoked; nasty ids are refused", async () => {
    await withHost("quota = 5", async (server, sb) => {
      const alice = await member(server, sb, "alice");
      const mallory = await member(server, sb, "mallory");
      await alice.get("/account/invites");
      const link = linkOf((await alice.post("/account/invites", {})).text)!;
      const [row] = query<{ id: string }>(sb, "SELECT id FROM invites WHERE created_by = 'account/alice@example.com'");
      await mallory.get("/account/invites");
      expect((await mallory.post("/account/invites/revoke", { invite: row!.id })).status).toBe(404);
      for (const bad of ["", "x", "../../etc", "A".repeat(5000), "<script>", row!.id + "\u0000"]) {
        await mallory.get("/account/invites");
        expect((await mallory.post("/account/invites/revoke", { invite: bad })).status).toBe(404);
      }
      expect((await get(`${server.url}/invite?${link.split("?")[1]}`)).status).toBe(200);
      await alice.get("/account/invites");
      const r = await alice.post("/account/invites/revoke", { invite: row!.id });
      expect(r.status).toBe(303);
      expect((await get(`${server.url}/invite?${link.split("?")[1]}`)).status).toBe(410);
      const page = await alice.get("/account/invites?done=revoked");
      expect(page.text).toContain("Revoked");
      expect(page.text).toContain("The invite is revoked");
      // Without the csrf token nothing is revoked.
      await alice.get("/account/invites");
      const link2 = linkOf((await alice.post("/account/invites", {})).text)!;
      const id2 = link2.split("?")[1]!.slice(0, 12);
      expect((await alice.post("/account/invites/revoke", { invite: id2 }, { csrf: null })).status).toBe(403);
      expect(query<{ revoked_at: number | null }>(sb, "SELECT revoked_at FROM invites WHERE id = ?", id2)[0]!.revoked_at).toBeNull();
    });
  });

  test("uses up to the configured most; min_account_age makes new accounts wait; roles_unlimited lifts the quota", async () => {
    await withHost('quota = 1\nmin_account_age = "1h"', async (server, sb) => {
      const fresh = await member(server, sb, "fresh");
      const page = await fresh.get("/account/invites");
      expect(page.text).toContain("Your account is too new to invite people yet.");
      expect((await fresh.post("/account/invites", {})).status).toBe(403);
    });
    await withHost('quota = 1\nuses = 3\nroles_unlimited = ["admin"]', async (server, sb) => {
      // admin is granted only by `invited user role add` (an invite can never carry it).
      const admin = await member(server, sb, "boss");
      expect((await cli(["user", "role", "add", "example.com", "boss", "admin"], { config: sb.config })).code).toBe(0);
      await admin.get("/account/invites");
      expect((await admin.get("/account/invites")).text).toContain("as many people as you like");
      for (let i = 0; i < 3; i++) {
        await admin.get("/account/invites");
        expect((await admin.post("/account/invites", { uses: "3" })).status).toBe(201);
      }
      for (const bad of ["4", "0", "-1", "1e3", "two", "99999999999"]) {
        await admin.get("/account/invites");
        expect((await admin.post("/account/invites", { uses: bad })).status).toBe(400);
      }
      expect(query(sb, "SELECT max_uses FROM invites WHERE created_by = 'account/boss@example.com'")).toEqual([{ max_uses: 3 }, { max_uses: 3 }, { max_uses: 3 }]);
    });
  });

  test("config: user_invites keys are checked", async () => {
    for (const [body, message] of [
      ["quota = -1", /quota' must be between 0/],
      ['period = "soon"', /period' is not a valid duration/],
      ['ttl = "90d"', /ttl is longer than invite_max_ttl/],
      ["uses = 0", /uses' must be between 1/],
      ['min_account_age = "x"', /min_account_age' is not a valid duration/],
      ["roles_unlimited = \"admin\"", /roles_unlimited' must be a list/],
      ["max = 3", /max' is not a known setting/],
    ] as const) {
      const sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."example.com".user_invites]\n${body}\n`);
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
