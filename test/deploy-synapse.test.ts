// deploy/synapse-provisioner.mjs, the webhook receiver recipe for Matrix Synapse. Synapse itself cannot be
// installed here, so this proves only the receiver's side: it accepts invited's real signed requests, refuses
// unsigned, tampered, stale and replayed ones, and turns an unreachable Synapse into a failure invited reports.
// Its calls to Synapse's admin API are NOT exercised (docs/provisioning/synapse.md says so).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { ROOT, freePort, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { auditEvents, createInvite, inviteRow, register } from "./invite-helpers.ts";
import { eventually, newSecret } from "./provision-helpers.ts";
import { listening, spawnDaemon, tempDir, waitReady, type Daemon } from "./downstream-helpers.ts";

let receiver: Daemon;
let port: number;
let sb: Sandbox;
let server: TestServer;
const secret = newSecret();

beforeAll(async () => {
  const dir = tempDir("invited-synapse-receiver-");
  writeFileSync(join(dir, "secret"), `${secret}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "token"), "syt_admin_token\n", { mode: 0o600 });
  port = freePort();
  receiver = spawnDaemon([process.execPath, join(ROOT, "deploy/synapse-provisioner.mjs")], dir, {
    INVITED_WEBHOOK_SECRET_FILE: join(dir, "secret"),
    SYNAPSE_ADMIN_TOKEN_FILE: join(dir, "token"),
    SYNAPSE_URL: `http://127.0.0.1:${freePort()}`, // nothing listens: Synapse is "down"
    LISTEN: `127.0.0.1:${port}`,
  });
  await waitReady(receiver, () => listening(port), "the Synapse provisioner to listen");
  sb = sandbox(`[hosts."example.com"]
public_url = "https://example.com"
[hosts."example.com".provision]
type = "webhook"
url = "http://127.0.0.1:${port}/"
secret = "${secret}"
timeout = "10s"
`);
  server = await startServer(sb);
});

afterAll(async () => {
  await server?.stop();
  sb?.cleanup();
  await receiver?.stop();
});

const url = () => `http://127.0.0.1:${port}/`;

describe("deploy/synapse-provisioner.mjs", () => {
  test("a real registration reaches it signed; Synapse being down is a failure invited reports (503, use released)", async () => {
    const invite = await createInvite(sb);
    const r = await register(server, invite.token, "alice", "correct horse battery");
    expect(r.status).toBe(503);
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
    expect(JSON.parse(auditEvents(sb, "provision.failed").at(-1)!.details)).toMatchObject({ provider: "webhook", reason: "http_502" });
    await eventually(() => receiver.output().includes("account.created alice@example.com: Synapse unreachable"), 5000, "the receiver's log line");
    expect(receiver.output()).not.toContain("correct horse battery");
  });

  test("unsigned, tampered, stale and replayed requests are refused", async () => {
    const body = JSON.stringify({ type: "provision.delete", host: "example.com", username: "bob", groups: [], roles: [] });
    const sign = (id: string, at: Date, b = body) => ({ "webhook-id": id, "webhook-timestamp": String(Math.floor(at.getTime() / 1000)), "webhook-signature": new Webhook(secret).sign(id, at, b) });
    const post = (headers: Record<string, string>, b = body) => fetch(url(), { method: "POST", headers: { "content-type": "application/json", ...headers }, body: b });

    expect((await post({})).status).toBe(401);
    expect((await post(sign("msg_tampered", new Date()), body.replace("bob", "eve"))).status).toBe(401);
    expect((await post(sign("msg_stale", new Date(Date.now() - 10 * 60_000)))).status).toBe(401);
    const at = new Date();
    expect((await post({ ...sign("msg_other", at), "webhook-signature": new Webhook(newSecret()).sign("msg_other", at, body) })).status).toBe(401);
    // A good one goes on to Synapse (down here: 502), and the same delivery again is refused.
    const good = sign("msg_good", new Date());
    expect((await post(good)).status).toBe(502);
    expect((await post(good)).status).toBe(409);
    expect((await fetch(url())).status).toBe(401);
  });

  test("an unknown request type is refused (422, saying so), a body over 64 KiB is cut off", async () => {
    const body = JSON.stringify({ type: "account.exploded", host: "example.com", username: "x" });
    const at = new Date();
    const r = await fetch(url(), { method: "POST", headers: { "webhook-id": "msg_unknown", "webhook-timestamp": String(Math.floor(at.getTime() / 1000)), "webhook-signature": new Webhook(secret).sign("msg_unknown", at, body) }, body });
    expect(r.status).toBe(422);
    expect(await r.text()).toContain("unknown request type");
    const big = await fetch(url(), { method: "POST", body: "x".repeat(200_000) }).then((x) => x.status, () => "closed");
    expect([401, "closed"]).toContain(big);
    expect(await listening(port)).toBe(true);
  });
});
