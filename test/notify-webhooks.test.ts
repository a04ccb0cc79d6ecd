// Outgoing notification webhooks: outbox rows written with the event, delivered by the server's worker to a real
// receiver that verifies Standard Webhooks signatures; retries across a restart, 410 disabling an endpoint, giving
// up after max_attempts, and `invited webhooks list|retry`.
import { afterEach, describe, expect, test } from "bun:test";
import { cli, createKey, freePort, sandbox, startServer, type Sandbox } from "./helpers.ts";
import { auditEvents, createInvite, query, register } from "./invite-helpers.ts";
import { eventually, newSecret, startReceiver } from "./provision-helpers.ts";
import { migrate } from "./audit-support.ts";
import { MAX_RETRY_DELAY, nextAttemptAt } from "../src/notify/service.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function notifyToml(url: string, secret: string, extra = ""): string {
  return `
[[notify]]
url = ${JSON.stringify(url)}
secret = ${JSON.stringify(secret)}
retry_delay = "100ms"
${extra}
`;
}

interface Row {
  id: number;
  message_id: string;
  event_type: string;
  status: string;
  attempts: number;
  last_error: string | null;
  last_status: number | null;
  endpoint_url: string;
  payload: string;
}
function rows(sb: Sandbox): Row[] {
  return query<Row>(sb, "SELECT * FROM webhook_deliveries ORDER BY id");
}

async function listJson(sb: Sandbox, all = false): Promise<{ endpoints: any[]; deliveries: any[] }> {
  const r = await cli(["webhooks", "list", "--json", ...(all ? ["--all"] : [])], { config: sb.config });
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

describe("notification webhooks", () => {
  test("every event type is delivered, signed, with a thin payload that carries no secret", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret]);
    const sb = sandbox(notifyToml(receiver.url, secret));
    const server = await startServer(sb);
    cleanups.push(() => sb.cleanup(), () => server.stop(), () => receiver.stop());

    const invite = await createInvite(sb); // the CLI writes the outbox row; the server's worker sends it
    await receiver.waitFor(1);
    const password = "correct horse battery";
    expect((await register(server, invite.token, "alice", password)).status).toBe(200);
    const second = await createInvite(sb);
    expect((await cli(["invite", "revoke", "example.com", second.id], { config: sb.config })).code).toBe(0);
    expect((await cli(["user", "delete", "example.com", "alice"], { config: sb.config })).code).toBe(0);
    const key = await createKey(sb, "example.com", "bot");
    const keyId = key.split("/")[0]!;
    expect((await cli(["key", "delete", "example.com", keyId], { config: sb.config })).code).toBe(0);

    await receiver.waitFor(8);
    await Bun.sleep(300);
    const got = receiver.received;
    expect(got.map((r) => r.json.type).sort()).toEqual(
      ["account.created", "account.deleted", "invite.created", "invite.created", "invite.revoked", "invite.used", "key.created", "key.deleted"].sort(),
    );
    for (const r of got) {
      expect(r.verifiedWith).toBe(secret);
      expect(Object.keys(r.json).sort()).toEqual(["data", "timestamp", "type"]);
      expect(r.json.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(r.json.data.host).toBe("example.com");
      for (const secretValue of [invite.token, second.token, key, key.split("/")[1]!, password]) expect(r.body).not.toContain(secretValue);
      expect(r.body).not.toMatch(/token|hash|password/i);
    }
    const byType = (t: string) => got.filter((r) => r.json.type === t).map((r) => r.json.data);
    expect(byType("invite.created")[0]).toMatchObject({ host: "example.com", invite_id: invite.id, kind: "account" });
    expect(byType("invite.created")[0].expires_at).toMatch(/Z$/);
    expect(byType("invite.used")[0]).toEqual({ host: "example.com", username: "alice", invite_id: invite.id, kind: "account" });
    expect(byType("account.created")[0]).toEqual({ host: "example.com", username: "alice", invite_id: invite.id });
    expect(byType("invite.revoked")[0]).toEqual({ host: "example.com", invite_id: second.id });
    expect(byType("account.deleted")[0]).toEqual({ host: "example.com", username: "alice" });
    expect(byType("key.created")[0]).toEqual({ host: "example.com", key_id: keyId });
    expect(byType("key.deleted")[0]).toEqual({ host: "example.com", key_id: keyId });
    // One webhook-id per message.
    expect(new Set(got.map((r) => r.headers["webhook-id"])).size).toBe(8);
    expect(rows(sb).every((r) => r.status === "delivered" && r.attempts === 1)).toBe(true);
  });

  test("events and hosts select what an endpoint receives", async () => {
    const secret = newSecret();
    const onlyAccounts = startReceiver([secret]);
    const otherHost = startReceiver([secret]);
    const sb = sandbox(
      `[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."other.org"]\npublic_url = "https://other.org"\n` +
        notifyToml(onlyAccounts.url, secret, `events = ["account.created"]`) +
        notifyToml(otherHost.url, secret, `hosts = ["other.org"]`),
    );
    const server = await startServer(sb);
    cleanups.push(() => sb.cleanup(), () => server.stop(), () => onlyAccounts.stop(), () => otherHost.stop());
    const a = await createInvite(sb, [], "example.com");
    await createInvite(sb, [], "other.org");
    expect((await register(server, a.token, "bea", "correct horse battery")).status).toBe(200);
    await onlyAccounts.waitFor(1);
    await otherHost.waitFor(1);
    await Bun.sleep(1500); // a full poll interval: nothing else arrives
    expect(onlyAccounts.received.map((r) => r.json.type)).toEqual(["account.created"]);
    expect(otherHost.received.map((r) => [r.json.type, r.json.data.host])).toEqual([["invite.created", "other.org"]]);
  });

  test("a receiver that is down: rows stay pending with backoff, and a restarted server delivers them with the same webhook-id", async () => {
    const secret = newSecret();
    const port = freePort();
    const sb = sandbox(notifyToml(`http://127.0.0.1:${port}/hook`, secret, "max_attempts = 100"));
    cleanups.push(() => sb.cleanup());
    let server = await startServer(sb);
    await createInvite(sb);
    const attempted = await eventually(() => rows(sb).find((r) => r.attempts >= 2), 15_000, "two failed attempts");
    expect(attempted.status).toBe("pending");
    expect(attempted.last_error).toBe("network_error");
    await server.stop();

    // While no server runs, the CLI still queues events.
    await createInvite(sb);
    expect(rows(sb)).toHaveLength(2);
    expect(rows(sb)[1]!.attempts).toBe(0);
    const pending = await listJson(sb);
    expect(pending.deliveries.map((d) => d.status)).toEqual(["pending", "pending"]);

    const receiver = startReceiver([secret], undefined, port);
    cleanups.push(() => receiver.stop());
    server = await startServer(sb);
    cleanups.push(() => server.stop());
    await receiver.waitFor(2);
    await eventually(() => rows(sb).every((r) => r.status === "delivered"), 10_000, "both rows delivered");
    const ids = rows(sb).map((r) => r.message_id).sort();
    expect(receiver.received.map((r) => r.headers["webhook-id"]).sort()).toEqual(ids);
    for (const r of receiver.received) {
      expect(r.verifiedWith).toBe(secret);
      expect(Math.abs(Number(r.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60); // signed at send time
    }
    expect((await listJson(sb)).deliveries).toEqual([]);
    expect((await listJson(sb, true)).deliveries).toHaveLength(2);
  });

  test("410 Gone disables the endpoint, across restarts, until `webhooks retry` re-enables it", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret], () => new Response(null, { status: 410 }));
    const sb = sandbox(notifyToml(receiver.url, secret));
    cleanups.push(() => sb.cleanup(), () => receiver.stop());
    let server = await startServer(sb);
    await createInvite(sb);
    await receiver.waitFor(1);
    await eventually(() => rows(sb)[0]?.status === "failed", 5000, "the row to fail");
    expect(rows(sb)[0]).toMatchObject({ last_status: 410, last_error: "gone", attempts: 1 });
    const disabled = auditEvents(sb, "webhook.disabled");
    expect(disabled).toHaveLength(1);
    expect(JSON.parse(disabled[0]!.details)).toMatchObject({ reason: "gone", endpoint: receiver.url });

    const listed = await listJson(sb);
    expect(listed.endpoints).toEqual([expect.objectContaining({ url: receiver.url, disabled: true, disabled_reason: "410 Gone", failed: 1, pending: 0 })]);

    // Later events are not sent to it.
    await createInvite(sb);
    await eventually(() => rows(sb)[1]?.status === "failed", 5000, "the second row to fail without a request");
    expect(rows(sb)[1]).toMatchObject({ last_error: "endpoint_disabled", attempts: 0 });
    await server.stop();
    server = await startServer(sb);
    cleanups.push(() => server.stop());
    await createInvite(sb);
    await eventually(() => rows(sb)[2]?.status === "failed", 5000, "the third row to fail after the restart");
    expect(receiver.received).toHaveLength(1);

    const text = await cli(["webhooks", "list"], { config: sb.config });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/disabled since .* \(410 Gone\)/);
    expect(text.stdout).toContain("endpoint_disabled");

    receiver.setHandler(() => new Response(null, { status: 200 }));
    const retried = await cli(["webhooks", "retry", "--all"], { config: sb.config });
    expect(retried.code).toBe(0);
    expect(retried.stdout).toBe("requeued 3 deliveries\n");
    await receiver.waitFor(4);
    await eventually(() => rows(sb).every((r) => r.status === "delivered"), 10_000, "all rows delivered");
    expect((await listJson(sb)).endpoints[0]).toMatchObject({ disabled: false, failed: 0 });
    expect(auditEvents(sb, "webhook.retried")).toHaveLength(1);
  });

  test("after max_attempts a delivery fails for good; `webhooks retry ID` sends it again", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret], () => new Response("nope", { status: 500 }));
    const sb = sandbox(notifyToml(receiver.url, secret, "max_attempts = 3"));
    const server = await startServer(sb);
    cleanups.push(() => sb.cleanup(), () => server.stop(), () => receiver.stop());
    await createInvite(sb);
    await eventually(() => rows(sb)[0]?.status === "failed", 15_000, "the row to fail for good");
    expect(rows(sb)[0]).toMatchObject({ attempts: 3, last_status: 500, last_error: "http_500" });
    expect(receiver.received).toHaveLength(3);
    // The same message each time.
    expect(new Set(receiver.received.map((r) => r.headers["webhook-id"])).size).toBe(1);
    const failedEvent = auditEvents(sb, "webhook.failed");
    expect(JSON.parse(failedEvent[0]!.details)).toMatchObject({ event: "invite.created", attempts: 3, reason: "http_500" });
    await eventually(() => server.output().includes("failed for good"), 5000, "the log line");

    const listed = await listJson(sb);
    expect(listed.deliveries).toEqual([expect.objectContaining({ id: rows(sb)[0]!.id, event: "invite.created", status: "failed", attempts: 3, last_status: 500, last_error: "http_500" })]);
    const table = await cli(["webhooks", "list"], { config: sb.config });
    expect(table.stdout).toMatch(/ID\s+EVENT\s+STATUS\s+ATTEMPTS/);
    expect(table.stdout).toMatch(new RegExp(`${rows(sb)[0]!.id}\\s+invite\\.created\\s+failed\\s+3\\s+http_500`));

    receiver.setHandler(() => new Response(null, { status: 204 }));
    const id = String(rows(sb)[0]!.id);
    const r = await cli(["webhooks", "retry", id], { config: sb.config });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("requeued 1 delivery\n");
    await eventually(() => rows(sb)[0]?.status === "delivered", 10_000, "the retried row to be delivered");
    expect(receiver.received).toHaveLength(4);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('invited_webhook_attempts_total{result="retry"} 2\n');
    expect(metrics).toContain('invited_webhook_attempts_total{result="failed"} 1\n');
    expect(metrics).toContain('invited_webhook_attempts_total{result="delivered"} 1\n');

    // Retrying a delivered row is an error.
    const again = await cli(["webhooks", "retry", id], { config: sb.config });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already delivered");
  });

  test("`webhooks retry` while the last attempt is in flight wins: the failure does not overwrite the requeue", async () => {
    const secret = newSecret();
    let calls = 0;
    const receiver = startReceiver([secret], async () => {
      if (++calls === 1) {
        await Bun.sleep(1500); // the final attempt, still running when the admin retries
        return new Response("nope", { status: 500 });
      }
      return new Response(null, { status: 204 });
    });
    const sb = sandbox(notifyToml(receiver.url, secret, `max_attempts = 1\ntimeout = "10s"`));
    const server = await startServer(sb);
    cleanups.push(() => sb.cleanup(), () => server.stop(), () => receiver.stop());
    await createInvite(sb);
    await receiver.waitFor(1);
    const r = await cli(["webhooks", "retry", String(rows(sb)[0]!.id)], { config: sb.config });
    expect(r.stdout).toBe("requeued 1 delivery\n");
    await eventually(() => rows(sb)[0]?.status === "delivered", 10_000, "the requeued row to be sent again and delivered");
    expect(receiver.received).toHaveLength(2);
    expect(auditEvents(sb, "webhook.failed")).toHaveLength(0);
  });

  test("`webhooks retry` while an attempt that ends in 410 is in flight wins too: the endpoint stays enabled", async () => {
    const secret = newSecret();
    let calls = 0;
    const receiver = startReceiver([secret], async () => {
      if (++calls === 1) {
        await Bun.sleep(1500);
        return new Response(null, { status: 410 });
      }
      return new Response(null, { status: 204 });
    });
    const sb = sandbox(notifyToml(receiver.url, secret, `timeout = "10s"`));
    const server = await startServer(sb);
    cleanups.push(() => sb.cleanup(), () => server.stop(), () => receiver.stop());
    await createInvite(sb);
    await receiver.waitFor(1);
    expect((await cli(["webhooks", "retry", String(rows(sb)[0]!.id)], { config: sb.config })).code).toBe(0);
    await eventually(() => rows(sb)[0]?.status === "delivered", 10_000, "the requeued row to be delivered");
    expect(auditEvents(sb, "webhook.disabled")).toHaveLength(0);
    expect((await listJson(sb)).endpoints[0]).toMatchObject({ disabled: false, disabled_at: null });
  });

  test("a slow receiver is cut off at the timeout and retried", async () => {
    const secret = newSecret();
    let calls = 0;
    const receiver = startReceiver([secret], async () => {
      if (++calls === 1) await Bun.sleep(5000);
      return new Response(null, { status: 200 });
    });
    const sb = sandbox(notifyToml(receiver.url, secret, `timeout = "300ms"`));
    const server = await startServer(sb);
    cleanups.push(() => sb.cleanup(), () => server.stop(), () => receiver.stop());
    await createInvite(sb);
    await eventually(() => rows(sb)[0]?.status === "delivered", 10_000, "delivery on the second attempt");
    expect(rows(sb)[0]).toMatchObject({ attempts: 2 });
    expect(receiver.received).toHaveLength(2);
  });
});

describe("retry schedule", () => {
  test("exponential backoff with jitter in the upper half of each step, capped at 6 hours", () => {
    const endpoint = { retryDelay: 30_000 };
    for (let attempts = 1; attempts <= 20; attempts++) {
      const step = Math.min(MAX_RETRY_DELAY, 30_000 * 2 ** (attempts - 1));
      expect(nextAttemptAt(endpoint, attempts, 0, () => 0)).toBe(step / 2);
      const late = nextAttemptAt(endpoint, attempts, 0, () => 0.999999);
      expect(late).toBeLessThanOrEqual(step);
      expect(late).toBeGreaterThan(step * 0.9999);
    }
    expect(nextAttemptAt(endpoint, 1000, 5, () => 1)).toBe(5 + MAX_RETRY_DELAY);
    const spread = new Set(Array.from({ length: 50 }, () => nextAttemptAt(endpoint, 3, 0)));
    expect(spread.size).toBeGreaterThan(40); // jitter: endpoints that failed together come back apart
  });
});

describe("webhooks CLI and config errors", () => {
  test("retry needs exactly one of ID and --all; unknown and malformed IDs are errors", async () => {
    const secret = newSecret();
    const sb = sandbox(notifyToml("http://127.0.0.1:9/hook", secret));
    cleanups.push(() => sb.cleanup());
    const cases: [string[], RegExp][] = [
      [["webhooks", "retry"], /give a delivery ID or --all/],
      [["webhooks", "retry", "1", "--all"], /not both/],
      [["webhooks", "retry", "999"], /delivery not found/],
      [["webhooks", "retry", "abc"], /not a delivery ID/],
      [["webhooks", "retry", "-1"], /Error:/],
      [["webhooks", "list", "--bogus"], /Error:/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args, { config: sb.config });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const none = await cli(["webhooks", "retry", "--all"], { config: sb.config });
    expect(none).toMatchObject({ code: 0, stdout: "requeued 0 deliveries\n" });
  });

  test("invited check masks the secrets of every endpoint", async () => {
    const one = newSecret();
    const two = newSecret();
    const sb = sandbox(notifyToml("https://hooks.example.com/a", one) + notifyToml("https://hooks.example.com/b", two, `retry_delay = "1m"`).replace('retry_delay = "100ms"\n', ""));
    cleanups.push(() => sb.cleanup());
    const r = await cli(["check"], { config: sb.config });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("whsec_");
    expect(r.stdout).toContain('notify[0].secret = ["********"]');
    expect(r.stdout).toContain('notify[1].url = "https://hooks.example.com/b"');
    expect(r.stdout).toContain('notify[1].retry_delay = "1m"');
  });

  test("list without any endpoint says so", async () => {
    const sb = sandbox();
    cleanups.push(() => sb.cleanup());
    await migrate(sb);
    const r = await cli(["webhooks", "list"], { config: sb.config });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("no notification endpoints are configured");
    expect(JSON.parse((await cli(["webhooks", "list", "--json"], { config: sb.config })).stdout)).toEqual({ endpoints: [], deliveries: [] });
  });

  const secret = newSecret();
  const cases: [string, string, RegExp][] = [
    ["notify is a table", `[notify]\nurl = "http://x/"\n`, /'notify' must be an array of tables/],
    ["missing url", `[[notify]]\nsecret = "${secret}"\n`, /'notify\[0\]\.url' is required/],
    ["bad url", `[[notify]]\nurl = "ftp://x/"\nsecret = "${secret}"\n`, /'notify\[0\]\.url' must be an http\(s\) URL/],
    ["missing secret", `[[notify]]\nurl = "http://x/"\n`, /'notify\[0\]\.secret' is required/],
    ["bad secret", `[[notify]]\nurl = "http://x/"\nsecret = "plain"\n`, /'notify\[0\]\.secret' must be in whsec_ form/],
    ["unknown event", `[[notify]]\nurl = "http://x/"\nsecret = "${secret}"\nevents = ["invite.deleted"]\n`, /unknown event "invite\.deleted"/],
    ["unknown host", `[[notify]]\nurl = "http://x/"\nsecret = "${secret}"\nhosts = ["nowhere.org"]\n`, /names a host that is not configured/],
    ["duplicate url", `[[notify]]\nurl = "http://x/"\nsecret = "${secret}"\n[[notify]]\nurl = "http://x/"\nsecret = "${secret}"\n`, /'notify\[1\]\.url' is configured twice/],
    ["unknown key", `[[notify]]\nurl = "http://x/"\nsecret = "${secret}"\nretries = 3\n`, /'notify\[0\]\.retries' is not a known setting/],
    ["max_attempts 0", `[[notify]]\nurl = "http://x/"\nsecret = "${secret}"\nmax_attempts = 0\n`, /max_attempts' must be between 1 and 100/],
  ];
  for (const [name, toml, message] of cases) {
    test(`config: ${name}`, async () => {
      const sb = sandbox(toml);
      try {
        const r = await cli(["webhooks", "list"], { config: sb.config });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
      } finally {
        sb.cleanup();
      }
    });
  }
});
