// Atomic redemption: concurrent registrations, revocation and expiry racing a registration in flight.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { openContext } from "../src/bootstrap.ts";
import { CLI_ORIGIN, type AppContext } from "../src/context.ts";
import { claimInviteUseTx, createInvite as createInviteService, revokeInvite } from "../src/invites/service.ts";
import { completeRegistrationTx, prepareRegistration, registerWithInvite } from "../src/registration/service.ts";
import { cli, get, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { accountCount, auditEvents, createInvite, inviteRow, query, register } from "./invite-helpers.ts";

/** argon2id bursts on two shared cores take seconds; generous so a loaded machine cannot fail them. */
const SLOW = 120_000;

let sb: Sandbox;
beforeEach(() => {
  sb = sandbox('[limits]\nauth_failure_log_window = "1ms"\n'); // each refusal its own row, to count them
});
afterEach(() => sb.cleanup());

async function withRunning<T>(fn: (server: TestServer) => Promise<T>): Promise<T> {
  const server = await startServer(sb);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/** `n` registrations sent at once, each with its own username; returns the statuses. */
async function burst(server: TestServer, token: string, n: number, prefix: string): Promise<number[]> {
  const responses = await Promise.all(Array.from({ length: n }, (_, i) => register(server, token, `${prefix}${i}`, "correct horse battery")));
  await Promise.all(responses.map((r) => r.arrayBuffer()));
  return responses.map((r) => r.status);
}

describe("N parallel registrations on an invite with max_uses K create exactly min(N, K) accounts", () => {
  test("50 at once on a single-use invite: exactly one account", async () => {
    await withRunning(async (server) => {
      const invite = await createInvite(sb);
      const statuses = await burst(server, invite.token, 50, "single");
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      // Losers hear "used up" (303 to the landing page) or, while the winner's reservation is held, "busy" (503).
      expect(statuses.filter((s) => s === 303 || s === 503)).toHaveLength(49);
      expect(accountCount(sb)).toBe(1);
      expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });
      expect(query(sb, "SELECT * FROM redemptions WHERE invite_id = ?", invite.id)).toHaveLength(1);
      expect(auditEvents(sb, "invite.used")).toHaveLength(1);
      // The use is reserved before the password is hashed: the 49 losers cost no hash.
      expect(await (await get(`${server.url}/metrics`)).text()).toMatch(/^invited_password_hashes_total 1$/m);
      expect(server.output()).not.toMatch(/unhandled error|request failed/);
    });
    // Refusals of one reason in one millisecond share a row; the server wrote their repeat counts when it stopped.
    const refused = auditEvents(sb, "registration.refused").map((e) => JSON.parse(e.details) as { reason: string; repeats?: number });
    expect(refused.reduce((n, d) => n + (d.repeats ?? 1), 0)).toBe(49);
    for (const d of refused) expect(["invite_used", "invite_busy"]).toContain(d.reason);
  }, SLOW);

  test("50 at once on a max_uses = 3 invite: exactly three accounts", async () => {
    await withRunning(async (server) => {
      const invite = await createInvite(sb, ["--uses", "3"]);
      const statuses = await burst(server, invite.token, 50, "three");
      expect(statuses.filter((s) => s === 200)).toHaveLength(3);
      expect(statuses.filter((s) => s === 303 || s === 503)).toHaveLength(47);
      expect(accountCount(sb)).toBe(3);
      expect(inviteRow(sb, invite.id).uses).toBe(3);
      expect(query(sb, "SELECT * FROM redemptions WHERE invite_id = ?", invite.id)).toHaveLength(3);
      const landing = await get(`${server.url}/invite?${invite.token}`);
      expect(landing.status).toBe(410);
    });
  }, SLOW);

  test("one username raced over ten invites: one account, nine 'already in use', nine invites untouched", async () => {
    await withRunning(async (server) => {
      const invites = await Promise.all(Array.from({ length: 10 }, () => createInvite(sb)));
      const responses = await Promise.all(invites.map((i) => register(server, i.token, "samename", "correct horse battery")));
      const statuses = responses.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(9);
      for (const r of responses) if (r.status === 409) expect(await r.text()).toContain("already in use");
      expect(accountCount(sb)).toBe(1);
      // The claim of every loser was rolled back with its failed account insert.
      const uses = invites.map((i) => inviteRow(sb, i.id).uses).sort();
      expect(uses).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
      expect(query(sb, "SELECT * FROM redemptions")).toHaveLength(1);
    });
  }, SLOW);
});

describe("revocation while registrations are in flight", () => {
  test("over HTTP: nothing is created after the revocation commits", async () => {
    await withRunning(async (server) => {
      const invite = await createInvite(sb, ["--unlimited"]);
      // 24 argon2id hashes keep two cores busy for well over a second; the CLI revokes meanwhile.
      const pending = burst(server, invite.token, 24, "inflight");
      await Bun.sleep(30);
      const revoked = await cli(["invite", "revoke", "example.com", invite.id], { config: sb.config });
      expect(revoked.code).toBe(0);
      const statuses = await pending;
      const revokedAt = inviteRow(sb, invite.id).revoked_at!;
      const accounts = query<{ created_at: number }>(sb, "SELECT created_at FROM accounts");
      for (const a of accounts) expect(a.created_at).toBeLessThan(revokedAt);
      expect(statuses.filter((s) => s === 200)).toHaveLength(accounts.length);
      expect(statuses.filter((s) => s === 303)).toHaveLength(24 - accounts.length);
      expect(inviteRow(sb, invite.id).uses).toBe(accounts.length);
      // At least one request had passed its checks and was hashing when the revocation landed: refused at the claim.
      const refused = auditEvents(sb, "registration.refused").map((e) => JSON.parse(e.details).reason);
      expect(refused.filter((r) => r === "invite_revoked").length).toBeGreaterThan(0);
      expect(refused.length).toBe(24 - accounts.length);
    });
  }, SLOW);

  test("in process: checked and hashed, then revoked, then the write job refuses and writes nothing", async () => {
    const ctx: AppContext = openContext(sb.config);
    try {
      const host = ctx.config.hosts["example.com"]!;
      const created = await createInviteService(ctx, CLI_ORIGIN, { host, createdBy: "cli" });
      const prepared = await prepareRegistration(ctx, { token: created.token, username: "late", password: "correct horse battery" }, "account");
      expect(prepared.ok).toBe(true);
      await revokeInvite(ctx, CLI_ORIGIN, host.name, created.invite.id);
      if (!prepared.ok) throw new Error("unreachable");
      const outcome = await ctx.db.write(() => {
        const claim = claimInviteUseTx(ctx, created.token);
        if (!claim.ok) return claim.reason;
        completeRegistrationTx(ctx, CLI_ORIGIN, prepared.plan, claim.invite);
        return "created";
      });
      expect(outcome).toBe("revoked");
      expect(accountCount(sb)).toBe(0);
      // And the public entry point reports it the same way, with an audit event.
      const result = await registerWithInvite(ctx, CLI_ORIGIN, { token: created.token, username: "later", password: "correct horse battery" });
      expect(result).toMatchObject({ ok: false, reason: "invite_revoked" });
      expect(auditEvents(sb, "registration.refused").map((e) => JSON.parse(e.details).reason)).toEqual(["invite_revoked"]);
    } finally {
      ctx.db.close();
    }
  }, SLOW);
});

describe("expiry at its boundary", () => {
  test("the claim holds until the last millisecond and fails from expires_at on", async () => {
    const ctx = openContext(sb.config);
    try {
      const host = ctx.config.hosts["example.com"]!;
      const a = await createInviteService(ctx, CLI_ORIGIN, { host, createdBy: "cli", maxUses: null, ttl: 60_000 });
      const at = a.invite.expiresAt;
      expect(await ctx.db.write(() => claimInviteUseTx(ctx, a.token, at - 1).ok)).toBe(true);
      const late = await ctx.db.write(() => claimInviteUseTx(ctx, a.token, at));
      expect(late).toMatchObject({ ok: false, reason: "expired" });
      expect(inviteRow(sb, a.invite.id).uses).toBe(1);
    } finally {
      ctx.db.close();
    }
  }, SLOW);

  test("over HTTP with --ttl 2s: works before, a form loaded in time but sent late is refused", async () => {
    await withRunning(async (server) => {
      const invite = await createInvite(sb, ["--uses", "2", "--ttl", "2s"]);
      const expiresAt = inviteRow(sb, invite.id).expires_at;
      expect((await get(`${server.url}/invite?${invite.token}`)).status).toBe(200);
      expect((await get(`${server.url}/register?t=${invite.token}`)).status).toBe(200);
      expect((await register(server, invite.token, "early", "correct horse battery")).status).toBe(200);
      await Bun.sleep(Math.max(0, expiresAt - Date.now()) + 20);
      const late = await register(server, invite.token, "toolate", "correct horse battery");
      expect(late.status).toBe(303);
      expect(late.headers.get("location")).toBe(`./invite?${invite.token}`);
      const landing = await get(`${server.url}/invite?${invite.token}`);
      expect(landing.status).toBe(410);
      expect(await landing.text()).toContain("has expired");
      expect((await get(`${server.url}/register?t=${invite.token}`)).status).toBe(303);
      expect(query(sb, "SELECT username FROM accounts")).toEqual([{ username: "early" }]);
      expect(inviteRow(sb, invite.id).uses).toBe(1);
      const refused = auditEvents(sb, "registration.refused").map((e) => JSON.parse(e.details).reason);
      expect(refused).toEqual(["invite_expired"]);
    });
  }, SLOW);
});
