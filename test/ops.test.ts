// invited backup, invited check, invited --version.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mintLoad } from "./load.ts";
import { existsSync, readFileSync, statSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { cli, createKey, get, sandbox, startServer, writeConfig } from "./helpers.ts";
import { openDatabase } from "../src/db/index.ts";
import { migrations } from "../src/db/migrations.ts";

function count(db: string, sql: string): number {
  const d = new Database(db, { readonly: true });
  try {
    return (d.query(sql).get() as { n: number }).n;
  } finally {
    d.close();
  }
}

describe("invited backup", () => {
  test("copies the live database while the server writes; the copy passes integrity_check", async () => {
    const sb = sandbox();
    const server = await startServer(sb);
    try {
      const key = await createKey(sb);
      const load = mintLoad(server.url, key, 8);
      while (load.tokens.length < 200) await Bun.sleep(10);
      const target = join(sb.dir, "backup.db");
      const r = await cli(["backup", target], { config: sb.config });
      await Bun.sleep(100);
      await load.stop();
      expect(load.statuses.filter((s) => s !== 201)).toEqual([]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^backup written to .*backup\.db \(\d+ bytes, integrity_check ok; api_keys 1, invites \d+, redemptions 0, audit_events \d+\) in \d+ ms\n$/);

      // The copy is a consistent snapshot: it opens, is intact, and holds every invite committed before it began.
      const copy = new Database(target, { readonly: true });
      expect(copy.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      const copied = (copy.query("SELECT count(*) AS n FROM invites").get() as { n: number }).n;
      const createdEvents = (copy.query("SELECT count(*) AS n FROM audit_events WHERE type = 'invite.created'").get() as { n: number }).n;
      copy.close();
      expect(copied).toBeGreaterThanOrEqual(200);
      expect(copied).toBeLessThanOrEqual(load.tokens.length);
      expect(createdEvents).toBe(copied); // invite and its event were copied together, never half
      expect(statSync(target).mode & 0o777).toBe(0o600);
      // The server kept answering throughout and still does.
      expect((await get(`${server.url}/healthz`)).status).toBe(200);
    } finally {
      await server.stop();
      sb.cleanup();
    }
  }, 30_000);

  test("refuses to overwrite an existing file unless --force, and never leaves a temp file behind", async () => {
    const sb = sandbox();
    try {
      await createKey(sb);
      const target = join(sb.dir, "existing.db");
      writeFileSync(target, "precious");
      const r = await cli(["backup", target], { config: sb.config });
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`Error: ${target} already exists (use --force to replace it)\n`);
      expect(readFileSync(target, "utf8")).toBe("precious");

      const forced = await cli(["backup", target, "--force"], { config: sb.config });
      expect(forced.code).toBe(0);
      expect(count(target, "SELECT count(*) AS n FROM api_keys")).toBe(1);
      const leftovers = new Bun.Glob(".*.tmp").scanSync({ cwd: sb.dir, dot: true });
      expect([...leftovers]).toEqual([]);
    } finally {
      sb.cleanup();
    }
  });

  test("clear errors: missing database, missing directory, the live database itself, no argument", async () => {
    const sb = sandbox();
    try {
      const none = await cli(["backup", join(sb.dir, "b.db")], { config: sb.config });
      expect(none.code).toBe(1);
      expect(none.stderr).toBe(`Error: database file ${sb.db} does not exist\n`);
      expect(existsSync(sb.db)).toBe(false); // backup never creates the database

      await createKey(sb);
      const noDir = await cli(["backup", join(sb.dir, "nope", "b.db")], { config: sb.config });
      expect(noDir.code).toBe(1);
      expect(noDir.stderr).toBe(`Error: directory ${join(sb.dir, "nope")} does not exist\n`);

      const self = await cli(["backup", sb.db, "--force"], { config: sb.config });
      expect(self.code).toBe(1);
      expect(self.stderr).toBe(`Error: ${sb.db} is the live database itself\n`);
      expect(count(sb.db, "SELECT count(*) AS n FROM api_keys")).toBe(1);

      const noArg = await cli(["backup"], { config: sb.config });
      expect(noArg.code).not.toBe(0);
      expect(noArg.stderr).not.toMatch(/\n\s+at /); // no stack trace
    } finally {
      sb.cleanup();
    }
  });

  test("does not migrate: a backup of an older database stays at its version", async () => {
    const sb = sandbox();
    try {
      openDatabase(sb.db, { migrations: migrations.slice(0, 1) }).close();
      const target = join(sb.dir, "old.db");
      const r = await cli(["backup", target], { config: sb.config });
      expect(r.code).toBe(0);
      expect(count(target, "SELECT count(*) AS n FROM __drizzle_migrations")).toBe(1);
      expect(count(sb.db, "SELECT count(*) AS n FROM __drizzle_migrations")).toBe(1);
    } finally {
      sb.cleanup();
    }
  });

  test("a restored backup serves again: the invites it holds still open", async () => {
    const sb = sandbox();
    const server = await startServer(sb);
    const key = await createKey(sb);
    const r = await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } });
    expect(r.status).toBe(201);
    const url = new URL(r.headers.get("location")!);
    const target = join(sb.dir, "b.db");
    expect((await cli(["backup", target], { config: sb.config })).code).toBe(0);
    expect(await server.stop()).toBe(0);

    // Restore: replace the database file with the copy (no -wal/-shm beside it after a clean stop).
    const restored = sandbox();
    try {
      writeFileSync(restored.db, readFileSync(target));
      const again = await startServer(restored);
      try {
        expect((await get(`${again.url}/invite${url.search}`)).status).toBe(200);
        expect((await get(`${again.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } })).status).toBe(201);
      } finally {
        await again.stop();
      }
    } finally {
      restored.cleanup();
      sb.cleanup();
    }
  });
});

describe("invited check", () => {
  test("passes on a healthy setup and prints the effective settings", async () => {
    const sb = sandbox();
    try {
      await createKey(sb);
      const r = await cli(["check"], { config: sb.config });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^config\s+ok\s+.*invited\.toml is valid$/m);
      expect(r.stdout).toMatch(/^database\s+ok\s+.*invited\.db \([\d.]+ KiB\), integrity_check ok; api_keys 1, invites 0, redemptions 0, audit_events 1$/m);
      expect(r.stdout).toMatch(new RegExp(`^migrations\\s+ok\\s+${migrations.length} applied, none pending$`, "m"));
      expect(r.stdout).toMatch(/^permissions\s+ok\s+.*invited\.db \(and its -wal, -shm\) open to the owner only$/m);
      expect(r.stdout).toMatch(/^geoip\s+ok\s+built-in .*NRO.*lookup works \(193\.0\.6\.139 -> NL\)$/m);
      expect(r.stdout).toMatch(/^proxies\s+ok\s+no X-Forwarded-For from peers outside trusted_proxies in the last 7 days$/m);
      // example.com (the sandbox host) has no provider and no redeeming key: its accounts would reach no server.
      expect(r.stdout).toMatch(/^downstream\s+warn\s+example.com: no provider and no key with invite:redeem or invite:xmpp/m);
      expect(r.stdout).toContain(`  database.path = ${JSON.stringify(sb.db)}\n`);
      expect(r.stdout).toContain('  server.shutdown_timeout = "5s"\n');
      expect(r.stdout).toContain('  server.idle_timeout = "30s"\n');
      expect(r.stdout).toMatch(/^ {2}server\.listen = "127\.0\.0\.1:0"$/m);
      expect(r.stdout).toMatch(/^usernames\s+ok\s+0 account name\(s\) follow the username rules$/m);
      expect(r.stdout).toContain('  hosts."example.com".username_min_length = 2\n');
      expect(r.stdout).toContain('  hosts."example.com".reserved_usernames = ["admin","administrator","root","postmaster","hostmaster","webmaster","abuse","security","support","noc","info","xmpp","www","mail","ftp","system","example"]\n');

      const json = await cli(["check", "--json", "--quick"], { config: sb.config });
      expect(json.code).toBe(0);
      const report = JSON.parse(json.stdout);
      expect(report.ok).toBe(true);
      expect(report.checks.map((c: { name: string }) => c.name)).toEqual(["config", "database", "permissions", "migrations", "usernames", "downstream", "geoip", "proxies", "prosody example.com"]);
      expect(report.checks[1].detail).toContain("quick_check ok");
      expect(report.settings["database.busy_timeout"]).toBe("5s");
      expect(report.settings["server.max_body_size"]).toBe(1048576);
      expect(report.settings["limits.auth_failure_log_window"]).toBe("1m"); // the config file's own names
    } finally {
      sb.cleanup();
    }
  });

  test("masks secrets in the printed settings", async () => {
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const sb = sandbox(`[hosts."example.com".provision]\ntype = "webhook"\nurl = "https://admin:hunter2@provision.example.com/hook"\nsecret = ["${secret}", "whsec_b2xkc2VjcmV0b2xkc2VjcmV0b2xk"]\n`);
    try {
      const r = await cli(["check"], { config: sb.config });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain(secret);
      expect(r.stdout).not.toContain("whsec_");
      expect(r.stdout).not.toContain("hunter2");
      expect(r.stdout).toContain('hosts."example.com".provision.secret = ["********","********"]');
      expect(r.stdout).toContain('hosts."example.com".provision.url = "https://admin:********@provision.example.com/hook"');
      expect(r.stdout).toContain('hosts."example.com".password_min_length = 8'); // numbers are not secrets
    } finally {
      sb.cleanup();
    }
  });

  test("reports pending migrations without applying them", async () => {
    const sb = sandbox();
    try {
      openDatabase(sb.db, { migrations: migrations.slice(0, 1) }).close();
      const r = await cli(["check"], { config: sb.config });
      expect(r.code).toBe(0);
      const pending = migrations.slice(1).map((m) => m.tag);
      expect(r.stdout).toMatch(new RegExp(`^migrations\\s+warn\\s+${pending.length} pending \\(${pending.join(", ")}\\); they are applied at the next start`, "m"));
      expect(count(sb.db, "SELECT count(*) AS n FROM __drizzle_migrations")).toBe(1);
    } finally {
      sb.cleanup();
    }
  });

  test("fails on a database from a newer invited", async () => {
    const sb = sandbox();
    try {
      await createKey(sb);
      const d = new Database(sb.db);
      d.run("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('future', ?)", [Date.now() + 365 * 86_400_000]);
      d.close();
      const r = await cli(["check"], { config: sb.config });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^migrations\s+fail\s+the database has migrations newer than this binary knows/m);
      expect(r.stderr).toBe("Error: check failed: migrations\n");
    } finally {
      sb.cleanup();
    }
  });

  test("fails on a corrupt database", async () => {
    const sb = sandbox();
    try {
      const key = await createKey(sb);
      const server = await startServer(sb);
      for (let i = 0; i < 100; i++) await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } });
      expect(await server.stop()).toBe(0);
      // Overwrite the middle of the file (b-tree pages, not the header) with junk.
      const size = statSync(sb.db).size;
      const fd = openSync(sb.db, "r+");
      writeSync(fd, Buffer.alloc(8192, 0x5a), 0, 8192, Math.floor(size / 2 / 4096) * 4096);
      closeSync(fd);
      const r = await cli(["check"], { config: sb.config });
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^database\s+fail\s+/m);
      expect(r.stderr).toMatch(/^Error: check failed: database/);
    } finally {
      sb.cleanup();
    }
  });

  test("fails when the configured GeoIP database cannot be opened", async () => {
    const sb = sandbox();
    try {
      writeConfig(sb, readFileSync(sb.config, "utf8") + `\n[audit]\ngeoip_database = "${join(sb.dir, "missing.mmdb")}"\n`);
      writeFileSync(join(sb.dir, "junk.mmdb"), "not a database");
      const missing = await cli(["check"], { config: sb.config });
      expect(missing.code).toBe(1);
      expect(missing.stdout).toMatch(/^geoip\s+fail\s+GeoIP database .*missing\.mmdb cannot be opened/m);

      writeConfig(sb, readFileSync(sb.config, "utf8").replace("missing.mmdb", "junk.mmdb"));
      const junk = await cli(["check"], { config: sb.config });
      expect(junk.code).toBe(1);
      expect(junk.stdout).toMatch(/^geoip\s+fail\s+GeoIP database .*junk\.mmdb cannot be opened/m);
    } finally {
      sb.cleanup();
    }
  });

  test("a missing database is a warning (created at first start); a config error exits 2", async () => {
    const sb = sandbox();
    try {
      const r = await cli(["check"], { config: sb.config });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^database\s+warn\s+.*does not exist yet; it is created on first start/m);
      expect(existsSync(sb.db)).toBe(false);

      writeConfig(sb, readFileSync(sb.config, "utf8") + "\n[server.oops]\n");
      const bad = await cli(["check"], { config: sb.config });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/config error: .*'server\.oops' is not a known setting/);
    } finally {
      sb.cleanup();
    }
  });
});

describe("invited --version", () => {
  test("shows version, build, runtime and the data attributions", async () => {
    const r = await cli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^invited \d+\.\d+\.\d+\nbuild: .+\nruntime: Bun \d+\.\d+\.\d+, SQLite 3\.\d+\.\d+\n/);
    expect(r.stdout).toContain("https://www.nro.net");
    expect(r.stdout).toContain("CC BY 4.0");
    expect(r.stdout).toContain("countries-list (MIT)");
  });
});
