// Crash safety: SIGKILL under load, restart, and check that the database is intact and that every invite whose 201
// reached the client exists (a 201 is only sent after its transaction committed).
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createKey, get, sandbox, startServer } from "./helpers.ts";
import { mintLoad, missingInvites } from "./load.ts";

describe("SIGKILL under load", () => {
  test("three kills mid-load: integrity_check ok, every 201 invite exists, and the server serves again", async () => {
    const sb = sandbox();
    try {
      let server = await startServer(sb);
      const key = await createKey(sb);
      const allTokens: string[] = [];
      for (let round = 0; round < 3; round++) {
        const load = mintLoad(server.url, key, 24);
        const target = 200 + Math.floor(Math.random() * 300); // kill at a different moment each round
        while (load.tokens.length < target) await Bun.sleep(2);
        server.proc.kill("SIGKILL");
        await server.stop();
        expect(server.proc.signalCode).toBe("SIGKILL");
        await load.done();
        expect(load.statuses.filter((s) => s !== 201)).toEqual([]);
        allTokens.push(...load.tokens);

        // The WAL from the killed process is still there; SQLite recovers from it on open.
        const db = new Database(sb.db, { readonly: true });
        expect(db.query("PRAGMA integrity_check").all()).toEqual([{ integrity_check: "ok" }]);
        const n = (db.query("SELECT count(*) AS n FROM invites").get() as { n: number }).n;
        const events = (db.query("SELECT count(*) AS n FROM audit_events WHERE type = 'invite.created'").get() as { n: number }).n;
        db.close();
        expect(n).toBeGreaterThanOrEqual(allTokens.length);
        expect(events).toBe(n); // an invite and its audit event commit together or not at all
        expect(missingInvites(sb.db, allTokens)).toEqual([]);

        server = await startServer(sb);
        expect((await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } })).status).toBe(201);
        const sample = allTokens[Math.floor(Math.random() * allTokens.length)]!;
        expect((await get(`${server.url}/invite?${sample}`)).status).toBe(200);
      }
      expect(await server.stop()).toBe(0);
      expect(allTokens.length).toBeGreaterThanOrEqual(600);
    } finally {
      sb.cleanup();
    }
  }, 60_000);
});
