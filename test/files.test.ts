// File modes: the database, its -wal and -shm are 0600 whatever the umask; a database others can read is warned
// about at start and flagged by `invited check`.
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, statSync } from "node:fs";
import { cli, sandbox, startServer, type Sandbox } from "./helpers.ts";

const mode = (file: string) => (statSync(file).mode & 0o777).toString(8).padStart(4, "0");
const files = (sb: Sandbox) => [sb.db, `${sb.db}-wal`, `${sb.db}-shm`];

/** The real CLI under a given umask. */
function cliUnder(umask: string, args: string[], sb: Sandbox) {
  return cli(args, { config: sb.config, cwd: sb.dir, umask });
}

/** `invited serve` under a given umask; resolves once /healthz answers. */
function serveUnder(umask: string, sb: Sandbox) {
  return startServer(sb, { umask });
}

describe("database files are 0600 whatever the umask", () => {
  for (const umask of ["022", "000", "277"]) {
    test(`umask ${umask}: the CLI creates the database 0600`, async () => {
      const sb = sandbox();
      try {
        const r = await cliUnder(umask, ["key", "create", "example.com"], sb);
        expect(r.stderr).toBe(`invited: created a new database at ${sb.db}\n`);
        expect(r.code).toBe(0);
        expect(mode(sb.db)).toBe("0600");
      } finally {
        sb.cleanup();
      }
    });
  }

  for (const umask of ["022", "000"]) {
    test(`umask ${umask}: a server's database, -wal and -shm are 0600 while it runs`, async () => {
      const sb = sandbox();
      const server = await serveUnder(umask, sb);
      try {
        expect(files(sb).map(existsSync)).toEqual([true, true, true]);
        expect(files(sb).map(mode)).toEqual(["0600", "0600", "0600"]);
        expect(server.output()).not.toContain("open to group or others");
      } finally {
        expect(await server.stop()).toBe(0);
        sb.cleanup();
      }
    });
  }

  test("an existing database keeps its mode (invited warns instead of changing it)", async () => {
    const sb = sandbox();
    try {
      expect((await cli(["key", "create", "example.com"], { config: sb.config })).code).toBe(0);
      chmodSync(sb.db, 0o640);
      const r = await cliUnder("022", ["key", "list", "example.com"], sb);
      expect(r.code).toBe(0);
      expect(mode(sb.db)).toBe("0640");
      expect(r.stderr).toContain(`warn: ${sb.db} is mode 0640: open to group or others`);
    } finally {
      sb.cleanup();
    }
  });
});

describe("a database others can read", () => {
  test("is warned about at start, and `invited check` flags it and its -wal and -shm", async () => {
    const sb = sandbox();
    try {
      expect((await cli(["key", "create", "example.com"], { config: sb.config })).code).toBe(0);
      chmodSync(sb.db, 0o644); // as an older invited, or a copy made with cp under umask 022, left it

      const server = await serveUnder("022", sb);
      try {
        expect(server.output()).toContain(`warn: ${sb.db} is mode 0644: open to group or others (it holds key and invite hashes and client addresses); chmod 600 ${sb.db}`);
        // SQLite gives the -wal and -shm it creates the main file's mode: all three are open now.
        expect(files(sb).map(mode)).toEqual(["0644", "0644", "0644"]);

        const check = await cli(["check", "--json"], { config: sb.config });
        expect(check.code).toBe(0); // a warning, not a failure
        const report = JSON.parse(check.stdout);
        const item = report.checks.find((c: { name: string }) => c.name === "permissions");
        expect(item.status).toBe("warn");
        for (const f of files(sb)) expect(item.detail).toContain(`${f} is mode 0644: open to group or others`);
        for (const f of files(sb)) expect(item.detail).toContain(`chmod 600 ${f}`);

        const text = await cli(["check"], { config: sb.config });
        expect(text.stdout).toMatch(/^permissions\s+warn\s+.*invited\.db is mode 0644/m);
      } finally {
        expect(await server.stop()).toBe(0);
      }

      // The fix the message names clears it.
      for (const f of files(sb)) if (existsSync(f)) chmodSync(f, 0o600);
      const fixed = await cli(["check", "--json"], { config: sb.config });
      const item = JSON.parse(fixed.stdout).checks.find((c: { name: string }) => c.name === "permissions");
      expect(item.status).toBe("ok");
      const quiet = await serveUnder("022", sb);
      try {
        expect(quiet.output()).not.toContain("open to group or others");
      } finally {
        expect(await quiet.stop()).toBe(0);
      }
    } finally {
      sb.cleanup();
    }
  });

  test("write access for others is flagged too", async () => {
    const sb = sandbox();
    try {
      expect((await cli(["key", "create", "example.com"], { config: sb.config })).code).toBe(0);
      chmodSync(sb.db, 0o602);
      const check = await cli(["check"], { config: sb.config });
      expect(check.stdout).toMatch(/^permissions\s+warn\s+.*invited\.db is mode 0602: open to group or others/m);
    } finally {
      sb.cleanup();
    }
  });
});
