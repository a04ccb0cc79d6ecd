// Storage faults while serving: a database file that cannot be written, one that was moved away, a full disk.
// Tests run as root, which ignores file permissions, so "read-only" is made with the immutable attribute
// (chattr +i: even root gets EPERM) and "full" with a small tmpfs. Each case needs the tool and skips without it.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, renameSync, rmSync, statfsSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKey, get, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";

function run(cmd: string[]): boolean {
  return Bun.spawnSync(cmd, { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

/** chattr +i works here (root, on a file system with the attribute)? Probed on a file in the temp dir. */
const canImmutable = (() => {
  if (process.getuid?.() !== 0) return false;
  const dir = mkdtempSync(join(tmpdir(), "invited-chattr-"));
  const f = join(dir, "probe");
  writeFileSync(f, "x");
  const ok = run(["chattr", "+i", f]);
  if (ok) run(["chattr", "-i", f]);
  rmSync(dir, { recursive: true, force: true });
  return ok;
})();

const canMountTmpfs = (() => {
  if (process.getuid?.() !== 0) return false;
  const dir = mkdtempSync(join(tmpdir(), "invited-mount-"));
  const ok = run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
  if (ok) run(["umount", dir]);
  rmSync(dir, { recursive: true, force: true });
  return ok;
})();

if (!canImmutable) console.warn("SKIPPED: read-only database tests (need root and chattr +i on the temp file system)");
if (!canMountTmpfs) console.warn("SKIPPED: full-disk test (needs root and mount -t tmpfs)");

async function mint(server: TestServer, key: string): Promise<Response> {
  return get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } });
}

async function withRunningServer(fn: (server: TestServer, sb: Sandbox, key: string) => Promise<void>, sb = sandbox()): Promise<void> {
  const server = await startServer(sb);
  try {
    const key = await createKey(sb);
    expect((await mint(server, key)).status).toBe(201);
    await fn(server, sb, key);
    // No crash: the process is still the one we started and it stops cleanly.
    expect(server.proc.exitCode).toBeNull();
  } finally {
    await server.stop();
    sb.cleanup();
  }
}

describe("database file cannot be written while serving", () => {
  test.if(canImmutable)("writes answer 503 with a log line, reads and /healthz keep answering, and it recovers", () =>
    withRunningServer(async (server, sb, key) => {
      const files = [sb.db, `${sb.db}-wal`]; // not -shm: it is mmap()ed, and an immutable mapping faults (SIGBUS)
      expect(run(["chattr", "+i", ...files])).toBe(true);
      try {
        for (let i = 0; i < 20; i++) {
          const r = await mint(server, key);
          expect(r.status).toBe(503);
          expect(await r.text()).toBe("service temporarily unavailable\n");
        }
        const health = await get(`${server.url}/healthz`);
        expect(health.status).toBe(503);
        expect(await health.text()).toMatch(/^database unavailable \((ioerr|readonly)\)\n$/);
        // Reads still work: an unknown invite is a 404 page, not an error.
        expect((await get(`${server.url}/invite?abcdefghijklmnop`)).status).toBe(404);
        // One log line for the burst, not twenty.
        const lines = server.output().split("\n").filter((l) => l.includes("storage unavailable, answering 503"));
        expect(lines.length).toBe(1);
        expect(lines[0]).toMatch(/error: storage unavailable, answering 503: disk I\/O error/);
        expect(server.output()).toMatch(/error: health check: database unavailable: /);
      } finally {
        run(["chattr", "-i", ...files]);
      }
      // Writable again: the next write and the health check succeed without a restart.
      expect((await mint(server, key)).status).toBe(201);
      expect((await get(`${server.url}/healthz`)).status).toBe(200);
      const metrics = await (await get(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/^invited_http_requests_total\{route="\/invites_api",method="GET",status="503"\} 20$/m);
      expect(metrics).toMatch(/^invited_db_write_failures_total\{reason="ioerr"\} [1-9]\d*$/m);
    }));

  test.if(canImmutable)("health recovers by itself once the file is writable, without any other request", () =>
    withRunningServer(async (server, sb, key) => {
      const files = [sb.db, `${sb.db}-wal`];
      expect(run(["chattr", "+i", ...files])).toBe(true);
      try {
        expect((await mint(server, key)).status).toBe(503);
        expect((await get(`${server.url}/healthz`)).status).toBe(503);
      } finally {
        run(["chattr", "-i", ...files]);
      }
      expect((await get(`${server.url}/healthz`)).status).toBe(200);
    }));
});

describe("database file moved or deleted while serving", () => {
  test("writes answer 503 instead of going to a file nobody will open again; moving it back recovers", () =>
    withRunningServer(async (server, sb, key) => {
      renameSync(sb.db, `${sb.db}.moved`);
      try {
        const r = await mint(server, key);
        expect(r.status).toBe(503);
        // Still an /invites_api answer: CORS headers (a browser client can read it) and when to try again.
        expect(r.headers.get("access-control-allow-origin")).toBe("*");
        expect(r.headers.get("access-control-allow-methods")).toBe("OPTIONS, GET, POST");
        expect(r.headers.get("retry-after")).toBe("5");
        const health = await get(`${server.url}/healthz`);
        expect(health.status).toBe(503);
        expect(await health.text()).toBe("database unavailable (moved)\n");
        expect(server.output()).toMatch(/storage unavailable, answering 503: database file .* was deleted or replaced while open/);
      } finally {
        renameSync(`${sb.db}.moved`, sb.db);
      }
      expect((await mint(server, key)).status).toBe(201);
      expect((await get(`${server.url}/healthz`)).status).toBe(200);
    }));

  test("a deleted file keeps answering 503 (no crash) until restarted", () =>
    withRunningServer(async (server, sb, key) => {
      rmSync(sb.db);
      for (let i = 0; i < 5; i++) expect((await mint(server, key)).status).toBe(503);
      expect((await get(`${server.url}/healthz`)).status).toBe(503);
    }));
});

describe("database locked by another process", () => {
  test("past busy_timeout a write answers 503 and counts as busy; it works again once the lock is gone", async () => {
    const sb = sandbox();
    const text = await Bun.file(sb.config).text();
    await Bun.write(sb.config, text.replace("[database]\n", '[database]\nbusy_timeout = "200ms"\n'));
    await withRunningServer(async (server, sb, key) => {
      const { Database } = await import("bun:sqlite");
      const other = new Database(sb.db);
      other.exec("BEGIN IMMEDIATE"); // e.g. a stuck maintenance script holding the write lock
      try {
        const r = await mint(server, key);
        expect(r.status).toBe(503);
      } finally {
        other.exec("ROLLBACK");
        other.close();
      }
      expect((await mint(server, key)).status).toBe(201);
      const metrics = await (await get(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(/^invited_db_busy_total [1-9]\d*$/m);
      expect(metrics).toMatch(/^invited_db_write_failures_total\{reason="busy"\} [1-9]\d*$/m);
      expect(server.output()).toMatch(/storage unavailable, answering 503: database is locked/);
    }, sb);
  });
});

describe("disk full while serving", () => {
  test.if(canMountTmpfs)("writes answer 503, nothing answers 5xx other than 503, and freeing space recovers", async () => {
    const mnt = mkdtempSync(join(tmpdir(), "invited-full-"));
    expect(run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt])).toBe(true);
    try {
      const dir = join(mnt, "db");
      mkdirSync(dir);
      const sb = sandbox();
      const text = await Bun.file(sb.config).text();
      const db = join(dir, "invited.db");
      await Bun.write(sb.config, text.replace(JSON.stringify(sb.db), JSON.stringify(db)));
      await withRunningServer(async (server, _sb, key) => {
        // Fill what is left of the 2 MiB.
        const filler = join(mnt, "filler");
        const fd = openSync(filler, "w");
        const chunk = Buffer.alloc(4096, 1);
        try {
          for (;;) writeSync(fd, chunk);
        } catch (e) {
          expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC");
        } finally {
          closeSync(fd);
        }
        expect(statfsSync(mnt).bavail).toBe(0);
        // Writes keep failing until SQLite needs a page it does not have; that comes quickly on a full disk.
        // In bursts, so that batches of many requests share a commit when the disk runs out.
        const statuses: number[] = [];
        for (let i = 0; i < 200 && !statuses.includes(503); i++) {
          const burst = await Promise.all(Array.from({ length: 10 }, () => mint(server, key)));
          statuses.push(...burst.map((r) => r.status));
        }
        expect(statuses).toContain(503);
        expect(statuses.filter((s) => s !== 201 && s !== 503)).toEqual([]);
        for (let i = 0; i < 10; i++) expect((await mint(server, key)).status).toBe(503);
        expect(server.output()).toMatch(/storage unavailable, answering 503: (database or disk is full|disk I\/O error)/);

        rmSync(filler);
        expect((await mint(server, key)).status).toBe(201);
        // Exactly the answered 201s are stored: no refused request left an invite behind, no 201 lost one.
        const check = new Database(db, { readonly: true });
        const stored = (check.query("SELECT count(*) AS n FROM invites").get() as { n: number }).n;
        check.close();
        expect(stored).toBe(statuses.filter((s) => s === 201).length + 2); // + the first one withRunningServer made
        expect((await get(`${server.url}/healthz`)).status).toBe(200);
      }, { ...sb, db });
    } finally {
      run(["umount", "-l", mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  }, 30_000);
});
