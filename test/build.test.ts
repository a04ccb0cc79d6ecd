import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, freePort, get } from "./helpers.ts";

// One build for the file: `npm run build` with the output redirected to a temp dir.
const outDir = mkdtempSync(join(tmpdir(), "invited-build-"));
const built = join(outDir, "invited");

describe("npm run build", () => {
  test("produces one executable that runs from an empty directory, without node_modules or .env", async () => {
    const b = Bun.spawnSync(["npm", "run", "build"], { cwd: ROOT, env: { ...process.env, INVITED_OUT: built }, stdout: "pipe", stderr: "pipe" });
    expect(b.exitCode).toBe(0);
    expect(statSync(built).size).toBeGreaterThan(10_000_000);

    const run = mkdtempSync(join(tmpdir(), "invited-run-"));
    try {
      const bin = join(run, "invited");
      copyFileSync(built, bin);
      // A .env the binary must NOT load: if it did, the bogus listen address would be a config error.
      writeFileSync(join(run, ".env"), "INVITED_LISTEN=not-an-address\nINVITED_DATABASE=/nonexistent/dir/x.db\n");
      const env = { PATH: "/usr/bin:/bin", HOME: run };

      const version = Bun.spawnSync([bin, "--version"], { cwd: run, env });
      expect(version.exitCode).toBe(0);
      const text = version.stdout.toString();
      expect(text).toMatch(/^invited \d+\.\d+\.\d+/);
      expect(text).toMatch(/build: [0-9a-f]{4,}|build: unknown/);
      expect(text).toContain("NRO");
      expect(text).toContain("CC BY 4.0");

      const key = Bun.spawnSync([bin, "key", "create", "localhost", "binary"], { cwd: run, env });
      // The first command creates ./invited.db in the empty directory and says so; nothing else goes to stderr.
      expect(key.stderr.toString()).toMatch(/^invited: created a new database at \S+\/invited\.db\n$/);
      expect(key.exitCode).toBe(0);
      const secret = key.stdout.toString().trim();
      expect(secret).toMatch(/^[A-Za-z0-9_-]{12}\/[A-Za-z0-9_-]{43}$/);

      // Serve from the binary: migrations and the GeoIP database come from inside it.
      const port = freePort();
      writeFileSync(join(run, "invited.toml"), `[server]\nlisten = "127.0.0.1:${port}"\n[database]\npath = "./invited.db"\n[hosts.localhost]\npublic_url = "http://localhost:5380"\n`);
      const proc = Bun.spawn([bin, "serve", "--config", "invited.toml"], { cwd: run, env, stdout: "pipe", stderr: "pipe" });
      try {
        let r: Response | null = null;
        for (let i = 0; i < 300 && !r; i++) {
          try {
            r = await get(`http://127.0.0.1:${port}/invites_api`, { headers: { Authorization: `Bearer ${secret}`, "X-Forwarded-For": "81.2.69.142" } });
          } catch {
            await Bun.sleep(20);
          }
        }
        expect(r!.status).toBe(201);
        expect(r!.headers.get("location")).toMatch(/^http:\/\/localhost:5380\/invite\?/);
      } finally {
        proc.kill("SIGTERM");
        expect(await proc.exited).toBe(0);
      }
      const db = new Database(join(run, "invited.db"), { readonly: true });
      const ev = db.query("SELECT country_code, continent FROM audit_events WHERE type = 'invite.created'").get() as any;
      db.close();
      expect(ev).toEqual({ country_code: "GB", continent: "Europe" });
    } finally {
      rmSync(run, { recursive: true, force: true });
      rmSync(outDir, { recursive: true, force: true });
    }
  }, 120_000);
});
