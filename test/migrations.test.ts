import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { renderMigrationsModule } from "../scripts/embed-migrations.ts";
import { migrations } from "../src/db/migrations.ts";
import { openDatabase } from "../src/db/index.ts";
import { ROOT, cli, createKey, get, sandbox, startServer } from "./helpers.ts";

describe("embedded migrations", () => {
  test("the embedded module is in sync with drizzle/ (regenerate with npm run db:generate)", () => {
    expect(readFileSync(join(ROOT, "src/db/migrations.generated.ts"), "utf8")).toBe(renderMigrationsModule());
  });

  test("they match drizzle-kit's own migrator: same SQL, timestamps and hashes", () => {
    const stock = readMigrationFiles({ migrationsFolder: join(ROOT, "drizzle") });
    expect(migrations.map((m) => [m.hash, m.folderMillis, m.sql])).toEqual(stock.map((m) => [m.hash, m.folderMillis, m.sql]));
    expect(migrations.length).toBeGreaterThanOrEqual(2);
  });

  test("a database made by an older build is upgraded on open, keeping its data", async () => {
    const sb = sandbox();
    try {
      // An "older build": only the first migration applied, with a key and an invite in it.
      const old = openDatabase(sb.db, { migrations: migrations.slice(0, 1) });
      old.close();
      const raw = new Database(sb.db, { readonly: true });
      const before = raw.query("SELECT name FROM sqlite_master WHERE type='table'").all().map((r: any) => r.name);
      raw.close();
      expect(before).toContain("invites");
      expect(before).not.toContain("audit_events");

      // The current build applies the rest on open, from the CLI...
      const k = await createKey(sb);
      const db = new Database(sb.db, { readonly: true });
      const applied = db.query("SELECT hash FROM __drizzle_migrations ORDER BY created_at").all().map((r: any) => r.hash);
      const tables = db.query("SELECT name FROM sqlite_master WHERE type='table'").all().map((r: any) => r.name);
      db.close();
      expect(applied).toEqual(migrations.map((m) => m.hash));
      expect(tables).toEqual(expect.arrayContaining(["api_keys", "invites", "accounts", "redemptions", "audit_events"]));

      // ...and the server serves the upgraded file.
      const server = await startServer(sb);
      try {
        expect((await get(`${server.url}/invites_api?key=${k}`)).status).toBe(201);
      } finally {
        await server.stop();
      }
    } finally {
      sb.cleanup();
    }
  });

  test("data written before an upgrade survives it", async () => {
    const sb = sandbox();
    try {
      const old = openDatabase(sb.db, { migrations: migrations.slice(0, 1) });
      old.sqlite.run(
        "INSERT INTO api_keys (id, host, name, token_hash, created_at) VALUES ('OLDKEYOLDKEY', 'example.com', 'from the old build', 'x', 1)",
      );
      old.close();
      const r = await cli(["key", "list", "example.com"], { config: sb.config });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("OLDKEYOLDKEY\tfrom the old build\n");
    } finally {
      sb.cleanup();
    }
  });

  test("the CLI and the server opening one new database at the same moment both succeed", async () => {
    const sb = sandbox();
    try {
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => cli(["key", "create", "example.com", `k${i}`], { config: sb.config })));
      expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0, 0]);
      const db = new Database(sb.db, { readonly: true });
      expect((db.query("SELECT count(*) AS n FROM __drizzle_migrations").get() as any).n).toBe(migrations.length);
      expect((db.query("SELECT count(*) AS n FROM api_keys").get() as any).n).toBe(6);
      db.close();
    } finally {
      sb.cleanup();
    }
  });
});
