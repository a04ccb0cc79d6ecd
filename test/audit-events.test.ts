// One audit event per existing action, with the right source, actor, host and details; `[audit] enabled = false`.
import { describe, expect, test } from "bun:test";
import { cli, createKey, get, sandbox, startServer } from "./helpers.ts";
import { auditJson, count, rows, waitFor } from "./audit-support.ts";
import { createInvite, postForm, register } from "./invite-helpers.ts";

describe("audit events", () => {
  test("each action writes exactly one event with its source and actor", async () => {
    const sb = sandbox();
    try {
      const server = await startServer(sb);
      try {
        // CLI: key created and deleted (actor "cli", no IP).
        const secret = await createKey(sb, "example.com", "ci");
        const keyId = secret.split("/")[0]!;
        const doomed = await createKey(sb, "example.com", "doomed");
        const doomedId = doomed.split("/")[0]!;
        expect((await cli(["key", "delete", "example.com", doomedId], { config: sb.config })).code).toBe(0);
        // Rotated, disabled and enabled again (a key of its own, so the first one keeps its token).
        const spare = (await createKey(sb, "example.com", "spare")).split("/")[0]!;
        for (const action of ["rotate", "disable", "enable"]) {
          expect((await cli(["key", action, "example.com", spare], { config: sb.config })).code).toBe(0);
        }

        // API: an invite minted with the key (actor: the key id; the socket peer 127.0.0.1).
        const ok = await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${secret}`, "User-Agent": "audit-test/1" } });
        expect(ok.status).toBe(201);

        // API: refused keys. Right id, wrong token; junk; a well-formed id nobody has; the deleted key.
        const wrong = `${keyId}/${"A".repeat(43)}`;
        expect((await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${wrong}` } })).status).toBe(403);
        expect((await get(`${server.url}/invites_api?key=not-a-key`)).status).toBe(403);
        expect((await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ZZZZZZZZZZZZ/${"B".repeat(43)}` } })).status).toBe(403);
        expect((await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${doomed}` } })).status).toBe(403);
        await waitFor(() => count(sb, "type = 'key.auth_failed'") === 4, "four auth failures");
      } finally {
        expect(await server.stop()).toBe(0);
      }

      const all = rows(sb);
      const byType = (t: string) => all.filter((r) => r.type === t);
      expect(all.map((r) => r.type).sort()).toEqual(
        ["invite.created", "key.auth_failed", "key.auth_failed", "key.auth_failed", "key.auth_failed", "key.created", "key.created", "key.created", "key.deleted", "key.rotated", "key.disabled", "key.enabled", "server.started", "server.stopped"].sort(),
      );

      const created = byType("key.created");
      for (const r of created) {
        expect(r).toMatchObject({ host: "example.com", user: "", source: "cli", actor: "cli", ip: null, country_code: null });
      }
      expect(created.map((r) => JSON.parse(r.details).name).sort()).toEqual(["ci", "doomed", "spare"]);
      for (const type of ["key.rotated", "key.disabled", "key.enabled"]) {
        const [r] = byType(type);
        expect(r).toMatchObject({ host: "example.com", user: "", source: "cli", actor: "cli", ip: null });
        expect(JSON.parse(r!.details).key_id).toBe(JSON.parse(created.find((c) => JSON.parse(c.details).name === "spare")!.details).key_id);
      }

      const [deleted] = byType("key.deleted");
      expect(deleted).toMatchObject({ host: "example.com", source: "cli", actor: "cli" });
      expect(JSON.parse(deleted!.details)).toMatchObject({ name: "doomed" });

      const [invite] = byType("invite.created");
      const keyId = JSON.parse(created.find((r) => JSON.parse(r.details).name === "ci")!.details).key_id as string;
      const doomedId = JSON.parse(deleted!.details).key_id as string;
      expect(invite).toMatchObject({ host: "example.com", user: "", source: "api", actor: keyId, ip: "127.0.0.1", country_code: null, user_agent: "audit-test/1" });
      expect(JSON.parse(invite!.details)).toMatchObject({ kind: "account", max_uses: 1, created_by: `api/token/${keyId}` });

      const failures = byType("key.auth_failed").map((r) => ({ host: r.host, source: r.source, actor: r.actor, ip: r.ip, ...JSON.parse(r.details) }));
      expect(failures).toEqual([
        { host: "example.com", source: "api", actor: keyId, ip: "127.0.0.1", reason: "mismatch", key_id: keyId },
        { host: "", source: "api", actor: null, ip: "127.0.0.1", reason: "malformed", key_id: null },
        { host: "", source: "api", actor: "ZZZZZZZZZZZZ", ip: "127.0.0.1", reason: "unknown", key_id: "ZZZZZZZZZZZZ" },
        { host: "", source: "api", actor: doomedId, ip: "127.0.0.1", reason: "unknown", key_id: doomedId },
      ]);

      const [started] = byType("server.started");
      const [stopped] = byType("server.stopped");
      expect(started).toMatchObject({ host: "", user: "", source: "system", actor: null, ip: null });
      expect(JSON.parse(started!.details).listen).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(stopped).toMatchObject({ host: "", source: "system", actor: null });
      expect(JSON.parse(stopped!.details)).toEqual({ reason: "SIGTERM" });
      expect(stopped!.id).toBe(Math.max(...all.map((r) => r.id)));

      // The viewer shows the same events; server-wide ones (host "") are part of every host's view.
      const viewed = await auditJson(sb, ["example.com", "--limit", "100"]);
      expect(viewed.map((e) => e.type)).toEqual(all.map((r) => r.type).reverse());
      expect(viewed[0]).toMatchObject({ type: "server.stopped", host: null, user: null, source: "system", actor: null, location: null });
    } finally {
      sb.cleanup();
    }
  });

  test("invite lifecycle, registration and account events", async () => {
    const sb = sandbox();
    try {
      const server = await startServer(sb);
      try {
        const ua = { "User-Agent": "browser/1", "X-Forwarded-For": "81.2.69.142" };
        // CLI: an invite, used on the web; a second one, revoked.
        const first = await createInvite(sb);
        expect((await register(server, first.token, "Alice", "correct horse battery", ua)).status).toBe(200);
        const second = await createInvite(sb);
        expect((await cli(["invite", "revoke", "example.com", second.id], { config: sb.config })).code).toBe(0);
        // Refused: the revoked invite, and a name already in use.
        expect((await register(server, second.token, "bob", "correct horse battery", ua)).status).toBeGreaterThanOrEqual(300);
        const third = await createInvite(sb);
        expect((await register(server, third.token, "ALICE", "correct horse battery", ua)).status).toBe(409);
        // A password reset for alice, then the account is deleted from the CLI.
        const reset = await createInvite(sb, ["--reset", "alice"]);
        expect((await postForm(server, { token: reset.token, user: "alice", password: "another good password" }, ua)).status).toBe(200);
        expect((await cli(["user", "delete", "example.com", "alice"], { config: sb.config })).code).toBe(0);
      } finally {
        await server.stop();
      }
      const pick = (type: string) => rows(sb, "type = ?", type).map((r) => ({ host: r.host, user: r.user, source: r.source, actor: r.actor, ip: r.ip, country_code: r.country_code, ...JSON.parse(r.details) }));
      const web = { host: "example.com", source: "web", actor: null, ip: "81.2.69.142", country_code: "GB" };
      // Changes made by a person on the web name that account as the actor.
      const byAlice = { ...web, actor: "alice@example.com" };
      const cliOrigin = { host: "example.com", source: "cli", actor: "cli", ip: null, country_code: null };
      expect(pick("invite.created")).toHaveLength(4);
      expect(pick("invite.created")[0]).toMatchObject({ ...cliOrigin, user: "", created_by: "cli", kind: "account" });
      expect(pick("invite.created")[3]).toMatchObject({ ...cliOrigin, user: "alice", kind: "reset" });
      expect(pick("invite.revoked")).toEqual([{ ...cliOrigin, user: "", invite_id: expect.any(String) }]);
      expect(pick("invite.used")).toEqual([
        { ...byAlice, user: "alice", invite_id: expect.any(String), kind: "account" },
        { ...byAlice, user: "alice", invite_id: expect.any(String), kind: "reset" },
      ]);
      expect(pick("account.registered")).toEqual([{ ...byAlice, user: "alice", invite_id: expect.any(String), invited_by: "cli", roles: [], groups: [] }]);
      expect(pick("account.password_reset")).toEqual([{ ...byAlice, user: "alice", invite_id: expect.any(String) }]);
      expect(pick("account.deleted")).toEqual([{ ...cliOrigin, user: "alice" }]);
      const refused = pick("registration.refused");
      expect(refused).toHaveLength(2);
      for (const r of refused) expect(r).toMatchObject({ host: "example.com", source: "web", ip: "81.2.69.142", reason: expect.any(String) });
      expect(JSON.stringify(refused)).not.toContain("correct horse");
      // One account's events, newest first, through the viewer.
      const alice = await auditJson(sb, ["Alice@example.com", "--limit", "100"]);
      expect(alice.map((e) => e.type)).toEqual(["account.deleted", "account.password_reset", "invite.used", "invite.created", "registration.refused", "account.registered", "invite.used"]);
    } finally {
      sb.cleanup();
    }
  }, 60_000);

  test("enabled = false writes no events, and the viewer still works", async () => {
    const sb = sandbox("[audit]\nenabled = false\n");
    try {
      const server = await startServer(sb);
      try {
        const secret = await createKey(sb);
        expect((await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${secret}` } })).status).toBe(201);
        expect((await get(`${server.url}/invites_api?key=junk`)).status).toBe(403);
      } finally {
        await server.stop();
      }
      expect(count(sb)).toBe(0);
      // The changes themselves happened.
      const keys = await cli(["key", "list", "example.com"], { config: sb.config });
      expect(keys.stdout.trim().split("\n")).toHaveLength(1);
      expect(await auditJson(sb, ["example.com"])).toEqual([]);
    } finally {
      sb.cleanup();
    }
  });

  test("[audit] settings are validated", async () => {
    for (const [toml, message] of [
      ["[audit]\nenable = true\n", "'audit.enable' is not a known setting"],
      ["[audit]\nenabled = \"yes\"\n", "'audit.enabled' must be true or false"],
      ["[audit]\nprune_interval = \"30d\"\n", "'audit.prune_interval' must be at most 24d"],
      ["[audit]\nprune_interval = \"daily\"\n", "'audit.prune_interval' is not a valid duration"],
      ["[audit]\nmax_rows = 0\n", "'audit.max_rows' must be between 1"],
      ["[audit]\nipv4_prefix = 33\n", "'audit.ipv4_prefix' must be between 0 and 32"],
    ] as const) {
      const sb = sandbox(toml);
      try {
        const r = await cli(["audit", "example.com"], { config: sb.config });
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(message);
      } finally {
        sb.cleanup();
      }
    }
  });
});
