// Webhook provider against real receivers on loopback: success, 409, 5xx, timeouts, network errors, redirects,
// slow receivers under concurrency, secret rotation, password resets, keep_password and a crash mid-call.
import { afterEach, describe, expect, test } from "bun:test";
import { freePort, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { auditEvents, createInvite, inviteRow, query, register } from "./invite-helpers.ts";
import { eventually, newSecret, startReceiver, type Receiver, provisionConfigErrorTests } from "./provision-helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function hostToml(url: string, secrets: string[], extra = ""): string {
  return `[hosts."example.com"]
public_url = "https://example.com"

[hosts."example.com".provision]
type = "webhook"
url = ${JSON.stringify(url)}
secret = ${JSON.stringify(secrets.length === 1 ? secrets[0] : secrets)}
${extra}
`;
}

async function setup(receiver: Receiver, secrets: string[], extra = ""): Promise<{ sb: Sandbox; server: TestServer }> {
  const sb = sandbox(hostToml(receiver.url, secrets, extra));
  const server = await startServer(sb);
  cleanups.push(() => sb.cleanup(), () => server.stop(), () => receiver.stop());
  return { sb, server };
}

const PASSWORD = "correct horse battery";

function reservations(sb: Sandbox): number {
  return query<{ n: number }>(sb, "SELECT count(*) AS n FROM provision_reservations")[0]!.n;
}

describe("webhook provider", () => {
  test("2xx: the receiver gets a signed request with the account, then invited records it without a password hash", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret], () => new Response("created", { status: 201 }));
    const { sb, server } = await setup(receiver, [secret]);
    const invite = await createInvite(sb, ["--group", "family", "--role", "member"]);

    const r = await register(server, invite.token, "Alice", PASSWORD);
    expect(r.status).toBe(200);
    expect(await r.text()).toContain("alice@example.com");

    expect(receiver.received).toHaveLength(1);
    const req = receiver.received[0]!;
    expect(req.verifiedWith).toBe(secret);
    expect(req.headers["content-type"]).toBe("application/json");
    expect(req.headers["webhook-id"]).toMatch(/^msg_[A-Za-z0-9_-]{22}$/);
    expect(req.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(Math.abs(Number(req.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(30);
    expect(req.json).toEqual({ type: "account.created", host: "example.com", username: "alice", password: PASSWORD, groups: ["family"], roles: ["member"], invite_id: invite.id });

    const [account] = query<{ username: string; password_hash: string | null; groups: string }>(sb, "SELECT * FROM accounts");
    expect(account!.username).toBe("alice");
    expect(account!.password_hash).toBeNull();
    expect(JSON.parse(account!.groups)).toEqual(["family"]);
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });
    expect(reservations(sb)).toBe(0);
    expect(auditEvents(sb, "account.registered")).toHaveLength(1);
    expect(auditEvents(sb, "invite.used")).toHaveLength(1);
    // The password went to the receiver and nowhere else.
    const dump = JSON.stringify(query(sb, "SELECT * FROM audit_events")) + JSON.stringify(query(sb, "SELECT * FROM accounts"));
    expect(dump).not.toContain(PASSWORD);
    expect(server.output()).not.toContain(PASSWORD);
  });

  test("keep_password = true keeps an argon2id hash of the password", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret]);
    const { sb, server } = await setup(receiver, [secret], "keep_password = true");
    const invite = await createInvite(sb);
    expect((await register(server, invite.token, "bob", PASSWORD)).status).toBe(200);
    const [account] = query<{ password_hash: string }>(sb, "SELECT password_hash FROM accounts");
    expect(account!.password_hash).toStartWith("$argon2id$");
    expect(await Bun.password.verify(PASSWORD, account!.password_hash)).toBe(true);
  });

  test("409: the name is taken downstream; the person sees 'already in use' and the invite is untouched", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret], () => new Response("exists", { status: 409 }));
    const { sb, server } = await setup(receiver, [secret]);
    const invite = await createInvite(sb);
    const r = await register(server, invite.token, "carol", PASSWORD);
    expect(r.status).toBe(409);
    expect(await r.text()).toContain("already in use");
    expect(query(sb, "SELECT * FROM accounts")).toHaveLength(0);
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
    expect(reservations(sb)).toBe(0);
    const refused = auditEvents(sb, "registration.refused");
    expect(refused).toHaveLength(1);
    expect(JSON.parse(refused[0]!.details).reason).toBe("username_taken");
    expect(auditEvents(sb, "provision.failed")).toHaveLength(0);

    // Another name works with the same invite.
    receiver.setHandler(() => new Response(null, { status: 200 }));
    expect((await register(server, invite.token, "carol2", PASSWORD)).status).toBe(200);
  });

  test("5xx: 'please try again', provision.failed with a reason code, and the same invite works on the next try", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret], () => new Response(`boom ${PASSWORD}`, { status: 500 }));
    const { sb, server } = await setup(receiver, [secret]);
    const invite = await createInvite(sb);

    const r = await register(server, invite.token, "dave", PASSWORD);
    expect(r.status).toBe(503);
    const page = await r.text();
    expect(page).toContain("please try again");
    expect(page).toContain("your invite still works");
    const alert = /<div class="alert" role="alert">(.*?)<\/div>/.exec(page)![1]!;
    expect(alert).not.toMatch(/500|boom|webhook/);
    expect(page).not.toContain("boom");
    expect(page).not.toContain(PASSWORD);
    expect(query(sb, "SELECT * FROM accounts")).toHaveLength(0);
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
    expect(reservations(sb)).toBe(0);
    const failed = auditEvents(sb, "provision.failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]!.user).toBe("dave");
    expect(JSON.parse(failed[0]!.details)).toEqual({ invite_id: invite.id, kind: "account", provider: "webhook", reason: "http_500" });
    await eventually(() => server.output().includes("provisioning dave@example.com"), 5000, "the log line");
    expect(server.output()).toMatch(/provisioning dave@example\.com \(invite \w+\) failed \(http_500\)/);

    receiver.setHandler(() => new Response(null, { status: 204 }));
    const again = await register(server, invite.token, "dave", PASSWORD);
    expect(again.status).toBe(200);
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });
    expect(server.output()).not.toContain(PASSWORD);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('invited_provision_calls_total{host="example.com",result="failed"} 1\n');
    expect(metrics).toContain('invited_provision_calls_total{host="example.com",result="created"} 1\n');
    expect(metrics).toContain('invited_invites_redeemed_total{host="example.com"} 1\n');
  });

  test("timeout: a receiver slower than the timeout is a failure; the use is released", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret], async () => {
      await Bun.sleep(6000);
      return new Response(null, { status: 200 });
    });
    const { sb, server } = await setup(receiver, [secret], `timeout = "500ms"`);
    const invite = await createInvite(sb);
    const started = Date.now();
    const r = await register(server, invite.token, "erin", PASSWORD);
    expect(r.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5000); // gave up long before the receiver would have answered
    expect(JSON.parse(auditEvents(sb, "provision.failed")[0]!.details).reason).toBe("timeout");
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
  });

  test("network error and redirects are failures too", async () => {
    const secret = newSecret();
    const closed = freePort();
    const sb = sandbox(hostToml(`http://127.0.0.1:${closed}/nobody`, [secret]));
    const server = await startServer(sb);
    cleanups.push(() => sb.cleanup(), () => server.stop());
    const invite = await createInvite(sb);
    expect((await register(server, invite.token, "frank", PASSWORD)).status).toBe(503);
    expect(JSON.parse(auditEvents(sb, "provision.failed")[0]!.details).reason).toBe("network_error");

    const receiver = startReceiver([secret], () => new Response(null, { status: 302, headers: { Location: "http://127.0.0.1:1/" } }));
    const other = await setup(receiver, [secret]);
    const invite2 = await createInvite(other.sb);
    expect((await register(other.server, invite2.token, "frank", PASSWORD)).status).toBe(503);
    expect(JSON.parse(auditEvents(other.sb, "provision.failed")[0]!.details).reason).toBe("http_302");
    expect(receiver.received).toHaveLength(1);
  });

  test("a slow receiver and 8 concurrent registrations on a max_uses = 3 invite: never more than 3 reserved or used", async () => {
    const secret = newSecret();
    let maxConcurrent = 0;
    const receiver = startReceiver([secret], async () => {
      maxConcurrent = Math.max(maxConcurrent, receiver.inFlight());
      await Bun.sleep(800);
      return new Response(null, { status: 201 });
    });
    const { sb, server } = await setup(receiver, [secret]);
    const invite = await createInvite(sb, ["--uses", "3"]);

    const attempts = Array.from({ length: 8 }, (_, i) => register(server, invite.token, `user${i}`, PASSWORD));
    // While the receiver sleeps, the reservations hold the uses.
    await receiver.waitFor(3);
    const during = inviteRow(sb, invite.id);
    expect(during.uses + during.reserved).toBeLessThanOrEqual(3);
    expect(during.reserved).toBe(3);
    // The landing page counts held uses as taken, rather than promising three free ones.
    expect(await (await fetch(`${server.url}/invite?${invite.token}`)).text()).toContain("0 of 3 uses left (3 being used right now)");
    const responses = await Promise.all(attempts);
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s !== 200).every((s) => s === 503 || s === 303)).toBe(true);
    expect(receiver.received).toHaveLength(3);
    expect(maxConcurrent).toBeLessThanOrEqual(3);
    expect(query(sb, "SELECT * FROM accounts")).toHaveLength(3);
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 3, reserved: 0 });
    expect(reservations(sb)).toBe(0);
    // Those turned away while uses were held were told to try again, not that the invite is gone.
    const busy = responses.filter((r) => r.status === 503);
    for (const r of busy) expect(await r.text()).toContain("Someone else is using this invite right now");
  });

  test("a failing provider gives the held use back to a later registration: exactly max_uses accounts in the end", async () => {
    const secret = newSecret();
    let calls = 0;
    const receiver = startReceiver([secret], async () => {
      calls++;
      await Bun.sleep(300);
      return new Response(null, { status: calls % 2 === 1 ? 503 : 201 }); // every other call fails
    });
    const { sb, server } = await setup(receiver, [secret]);
    const invite = await createInvite(sb, ["--uses", "2"]);
    let created = 0;
    for (let round = 0; round < 6 && created < 2; round++) {
      const rs = await Promise.all([0, 1, 2].map((i) => register(server, invite.token, `r${round}u${i}`, PASSWORD)));
      created += rs.filter((r) => r.status === 200).length;
      const row = inviteRow(sb, invite.id);
      expect(row.uses).toBeLessThanOrEqual(2);
      expect(row.reserved).toBe(0);
    }
    expect(created).toBe(2);
    expect(query(sb, "SELECT * FROM accounts")).toHaveLength(2);
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 2, reserved: 0 });
  });

  test("two registrations of one name at once: only one reaches the provider, the other hears 'already in use'", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret], async () => {
      await Bun.sleep(500);
      return new Response(null, { status: 201 });
    });
    const { sb, server } = await setup(receiver, [secret]);
    const a = await createInvite(sb);
    const b = await createInvite(sb);
    const [ra, rb] = await Promise.all([register(server, a.token, "grace", PASSWORD), register(server, b.token, "Grace", PASSWORD)]);
    expect([ra.status, rb.status].sort()).toEqual([200, 409]);
    expect(receiver.received).toHaveLength(1);
    expect(query(sb, "SELECT * FROM accounts")).toHaveLength(1);
    expect(inviteRow(sb, a.id).uses + inviteRow(sb, b.id).uses).toBe(1);
    expect(inviteRow(sb, a.id).reserved + inviteRow(sb, b.id).reserved).toBe(0);
  });

  test("secret rotation: with two secrets each receiver that knows either one verifies the request", async () => {
    const oldSecret = newSecret();
    const newSecretValue = newSecret();
    const knowsNew = startReceiver([newSecretValue]);
    const { sb, server } = await setup(knowsNew, [oldSecret, newSecretValue]);
    const invite = await createInvite(sb, ["--uses", "2"]);
    expect((await register(server, invite.token, "heidi", PASSWORD)).status).toBe(200);
    const req = knowsNew.received[0]!;
    expect(req.verifiedWith).toBe(newSecretValue);
    const signatures = req.headers["webhook-signature"]!.split(" ");
    expect(signatures).toHaveLength(2);
    for (const s of signatures) expect(s).toMatch(/^v1,/);

    // A receiver that still knows only the old secret verifies the very same request.
    const { Webhook } = await import("standardwebhooks");
    expect(() => new Webhook(oldSecret).verify(req.body, req.headers)).not.toThrow();
    // And one that knows neither does not.
    expect(() => new Webhook(newSecret()).verify(req.body, req.headers)).toThrow();
  });

  test("a receiver that knows no configured secret rejects (401): a failure, nothing recorded", async () => {
    const receiver = startReceiver([newSecret()]);
    const { sb, server } = await setup(receiver, [newSecret()]);
    const invite = await createInvite(sb);
    expect((await register(server, invite.token, "ivan", PASSWORD)).status).toBe(503);
    expect(receiver.received[0]!.verifiedWith).toBeNull();
    expect(JSON.parse(auditEvents(sb, "provision.failed")[0]!.details).reason).toBe("http_401");
  });

  test("password reset: the receiver gets type account.password_reset; a failure changes nothing and keeps the invite", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret]);
    const { sb, server } = await setup(receiver, [secret]);
    const invite = await createInvite(sb);
    expect((await register(server, invite.token, "judy", PASSWORD)).status).toBe(200);

    const reset = await createInvite(sb, ["--reset", "judy"]);
    receiver.setHandler(() => new Response(null, { status: 500 }));
    const failed = await register(server, reset.token, "judy", "a brand new secret");
    expect(failed.status).toBe(503);
    expect(await failed.text()).toContain("set your new password right now");
    expect(inviteRow(sb, reset.id)).toMatchObject({ uses: 0, reserved: 0 });

    receiver.setHandler(() => new Response(null, { status: 204 }));
    const ok = await register(server, reset.token, "judy", "a brand new secret");
    expect(ok.status).toBe(200);
    const last = receiver.received.at(-1)!;
    expect(last.verifiedWith).toBe(secret);
    expect(last.json).toMatchObject({ type: "account.password_reset", host: "example.com", username: "judy", password: "a brand new secret", invite_id: reset.id });
    expect(inviteRow(sb, reset.id)).toMatchObject({ uses: 1, reserved: 0 });
    expect(auditEvents(sb, "account.password_reset")).toHaveLength(1);
    expect(query<{ password_hash: string | null }>(sb, "SELECT password_hash FROM accounts")[0]!.password_hash).toBeNull();
  });

  test("a crash between reserve and settle: the next server releases the stale reservation and the invite works again", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret], async () => {
      await Bun.sleep(20_000);
      return new Response(null, { status: 201 });
    });
    const sb = sandbox(hostToml(receiver.url, [secret], `timeout = "1s"`));
    cleanups.push(() => sb.cleanup(), () => receiver.stop());
    let server = await startServer(sb);
    const invite = await createInvite(sb);

    const pending = register(server, invite.token, "kim", PASSWORD).catch(() => null);
    await receiver.waitFor(1);
    await server.stop("SIGKILL"); // dies while the provider call is in flight
    await pending;
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 1 });
    const [row] = query<{ reserved_at: number; expires_at: number; username: string }>(sb, "SELECT * FROM provision_reservations");
    expect(row!.username).toBe("kim");
    expect(row!.expires_at - row!.reserved_at).toBe(2000); // 2 × timeout

    server = await startServer(sb);
    cleanups.push(() => server.stop());
    await eventually(() => inviteRow(sb, invite.id).reserved === 0, 15_000, "the stale reservation to be released");
    expect(reservations(sb)).toBe(0);
    const abandoned = auditEvents(sb, "provision.failed");
    expect(abandoned).toHaveLength(1);
    expect(abandoned[0]!.user).toBe("kim");
    expect(abandoned[0]!.source).toBe("system");
    expect(JSON.parse(abandoned[0]!.details)).toMatchObject({ invite_id: invite.id, reason: "abandoned" });

    receiver.setHandler(() => new Response(null, { status: 201 }));
    expect((await register(server, invite.token, "kim", PASSWORD)).status).toBe(200);
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });
  });
});

describe("provision config", () => {
  const cases: [string, string, RegExp][] = [
    ["webhook without url", `type = "webhook"\nsecret = "${newSecret()}"`, /provision\.url' is required/],
    ["webhook with a non-http url", `type = "webhook"\nurl = "file:///etc/passwd"\nsecret = "${newSecret()}"`, /provision\.url' must be an http\(s\) URL/],
    ["webhook without secret", `type = "webhook"\nurl = "http://127.0.0.1:1/"`, /provision\.secret' is required/],
    ["secret not in whsec_ form", `type = "webhook"\nurl = "http://127.0.0.1:1/"\nsecret = "hunter2"`, /must be in whsec_ form/],
    ["secret not base64", `type = "webhook"\nurl = "http://127.0.0.1:1/"\nsecret = "whsec_***"`, /whsec_ followed by base64/],
    ["short secret", `type = "webhook"\nurl = "http://127.0.0.1:1/"\nsecret = "whsec_c2hvcnQ="`, /too short/],
    ["unknown type", `type = "kerberos"`, /provision\.type' must be/],
    ["timeout out of range", `type = "webhook"\nurl = "http://127.0.0.1:1/"\nsecret = "${newSecret()}"\ntimeout = "1h"`, /timeout' must be between/],
    ["unknown key", `type = "none"\nretries = 3`, /provision\.retries' is not a known setting/],
  ];
  provisionConfigErrorTests(cases);
});
