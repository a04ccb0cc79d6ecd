// Graceful shutdown under sustained load: SIGTERM mid-load, exit 0 within shutdown_timeout, every 201 durable.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createKey, sandbox, startServer } from "./helpers.ts";
import { mintLoad, missingInvites } from "./load.ts";

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

  // The forced path (a request still running at shutdown_timeout is cut, exit 0 anyway) needs a route that can stay
  // busy for seconds; none exists yet (a request whose body never arrives is not "in flight" for Bun: its
  // connection is simply closed). Registration with a slow provisioning webhook will be one.
  test.todo("a request still running at shutdown_timeout is cut and the process exits 0");
});
