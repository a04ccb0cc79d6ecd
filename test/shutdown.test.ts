// Graceful shutdown under sustained load: SIGTERM mid-load, exit 0 within shutdown_timeout, every 201 durable.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createKey, sandbox, startServer } from "./helpers.ts";
import { mintLoad, missingInvites } from "./load.ts";
import { createInvite, register } from "./invite-helpers.ts";
import { newSecret, startReceiver } from "./provision-helpers.ts";

describe("graceful shutdown under load", () => {
  test("SIGTERM mid-load: requests in flight finish, exit 0 well within shutdown_timeout, every 201 is in the database", async () => {
    const sb = sandbox();
    try {
      const server = await startServer(sb);
      const key = await createKey(sb);
      const load = mintLoad(server.url, key, 32);
      while (load.tokens.length < 500) await Bun.sleep(10);

      const t0 = performance.now();
      server.proc.kill("SIGTERM");
      const code = await server.stop();
      const elapsed = performance.now() - t0;
      await load.done();

      expect(code).toBe(0);
      expect(elapsed).toBeLessThan(5000); // shutdown_timeout in the sandbox config
      // Every answer was a 201: nothing was cut into a 5xx while stopping.
      expect(load.statuses.filter((s) => s !== 201)).toEqual([]);
      // A clean close: the WAL was checkpointed away (checked before anything else opens the file).
      expect(await Bun.file(`${sb.db}-wal`).exists()).toBe(false);
      expect(missingInvites(sb.db, load.tokens)).toEqual([]);
      const db = new Database(sb.db, { readonly: true });
      expect(db.query("SELECT json_extract(details, '$.reason') AS reason FROM audit_events WHERE type = 'server.stopped'").all()).toEqual([{ reason: "SIGTERM" }]);
      expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      db.close();
      expect(server.output()).toContain("received SIGTERM, shutting down");
    } finally {
      sb.cleanup();
    }
  }, 30_000);

  test("a request still running at shutdown_timeout is cut, the database is closed and the process exits 0", async () => {
    // A registration whose provisioning webhook answers only after a minute stays in flight through the shutdown.
    const secret = newSecret();
    const receiver = startReceiver([secret], async () => {
      await Bun.sleep(60_000);
      return new Response(null, { status: 201 });
    });
    const sb = sandbox(`[hosts."example.com"]
public_url = "https://example.com"
[hosts."example.com".provision]
type = "webhook"
url = ${JSON.stringify(receiver.url)}
secret = ${JSON.stringify(secret)}
timeout = "2m"
`);
    try {
      const server = await startServer(sb);
      const invite = await createInvite(sb);
      const pending = register(server, invite.token, "slowpoke", "correct horse battery").then((r) => r.status, () => 0);
      while (receiver.received.length === 0) await Bun.sleep(20);

      const t0 = performance.now();
      server.proc.kill("SIGTERM");
      await Bun.sleep(500);
      server.proc.kill("SIGINT"); // an impatient second signal must not kill it halfway through closing
      const code = await server.stop();
      const elapsed = performance.now() - t0;
      expect(code).toBe(0);
      expect(server.output()).toContain("received SIGINT again; still shutting down");
      // shutdown_timeout is 5 s in the sandbox config: the stop waits for it, then cuts the request.
      expect(elapsed).toBeGreaterThan(4_500);
      expect(elapsed).toBeLessThan(9_000);
      expect(await pending).not.toBe(200); // cut: no success page for an account that was never confirmed
      expect(server.output()).toMatch(/shutdown timeout: 1 request\(s\) still running/);

      const db = new Database(sb.db, { readonly: true });
      expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      expect(db.query("SELECT count(*) AS n FROM audit_events WHERE type = 'server.stopped'").get()).toEqual({ n: 1 });
      expect(db.query("SELECT count(*) AS n FROM accounts").get()).toEqual({ n: 0 });
      db.close();
    } finally {
      receiver.stop();
      sb.cleanup();
    }
  }, 60_000);
});
