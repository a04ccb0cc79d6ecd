// GeoIP databases: a custom path (a copy of the built-in file, and a MaxMind-layout file), missing or corrupt files,
// and a file replaced while the server runs.
import { describe, expect, test } from "bun:test";
import { copyFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, createKey, get, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { BUILTIN_MMDB, failedAuthProbe, rows, waitFor, where } from "./audit-support.ts";
import { countryRecord, writeMmdb } from "./mmdb-writer.ts";

const failedAuth = (server: TestServer, sb: Sandbox, xff: string) => failedAuthProbe(server, sb, xff);
const warnings = (out: string) => out.split("\n").filter((l) => /warn: GeoIP database/.test(l));

/** A sandbox whose [audit] points at `file`. */
function geoSandbox(file: string, extra = ""): Sandbox {
  return sandbox(`[audit]\ngeoip_database = ${JSON.stringify(file)}\n${extra}`);
}

/** MaxMind's layout, with answers the built-in database would never give. */
function writeFakeCountries(path: string, country: "FR" | "DE"): void {
  const record = country === "FR" ? countryRecord("FR", "France", "EU", "Europe") : countryRecord("DE", "Germany", "EU", "Europe");
  writeMmdb(path, [{ network: "81.2.69.0/24", record }]);
}

describe("GeoIP database", () => {
  test("a custom path: a copy of the built-in database answers the same", async () => {
    const sb = sandbox();
    const file = join(sb.dir, "copy.mmdb");
    copyFileSync(BUILTIN_MMDB, file);
    writeFileSync(sb.config, (await Bun.file(sb.config).text()) + `[audit]\ngeoip_database = ${JSON.stringify(file)}\n`);
    const server = await startServer(sb);
    try {
      expect(where(await failedAuth(server, sb, "8.8.8.8"))).toEqual({ ip: "8.8.8.8", country_code: "US", country_name: "United States", continent: "North America" });
      expect(where(await failedAuth(server, sb, "81.2.69.142"))).toEqual({ ip: "81.2.69.142", country_code: "GB", country_name: "United Kingdom", continent: "Europe" });
      expect(warnings(server.output())).toEqual([]);
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });

  test("a custom path with MaxMind's GeoLite2 layout is the one read (not the built-in data)", async () => {
    const sb0 = sandbox();
    const file = join(sb0.dir, "GeoLite2-Country.mmdb");
    writeFakeCountries(file, "FR");
    const sb = geoSandbox(file);
    const server = await startServer(sb);
    try {
      expect(where(await failedAuth(server, sb, "81.2.69.142"))).toEqual({ ip: "81.2.69.142", country_code: "FR", country_name: "France", continent: "Europe" });
      // Not in this (IPv4-only, one-network) file: no location, no failure.
      expect(where(await failedAuth(server, sb, "8.8.8.8"))).toMatchObject({ ip: "8.8.8.8", country_code: null });
      expect(where(await failedAuth(server, sb, "2001:4860:4860::8888"))).toMatchObject({ ip: "2001:4860:4860::8888", country_code: null });
      expect(warnings(server.output())).toEqual([]);
    } finally {
      await server.stop();
      sb.cleanup();
      sb0.cleanup();
    }
  });

  for (const [kind, label] of [["missing", "a missing"], ["corrupt", "a truncated"], ["empty", "an empty"], ["a directory", "a directory as"]] as const) {
    test(`${label} database file: one warning at start, no location, events still written`, async () => {
      const sb = sandbox();
      const file = join(sb.dir, "GeoLite2-City.mmdb");
      if (kind === "corrupt") writeFileSync(file, (await Bun.file(BUILTIN_MMDB).bytes()).slice(0, 5000)); // truncated: no metadata
      if (kind === "empty") writeFileSync(file, "");
      if (kind === "a directory") await Bun.$`mkdir ${file}`;
      writeFileSync(sb.config, (await Bun.file(sb.config).text()) + `[audit]\ngeoip_database = ${JSON.stringify(file)}\ngeoip_check_interval = "1s"\n`);
      const server = await startServer(sb);
      try {
        expect(where(await failedAuth(server, sb, "8.8.8.8"))).toEqual({ ip: "8.8.8.8", country_code: null, country_name: null, continent: null });
        const secret = await createKey(sb);
        expect((await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${secret}`, "X-Forwarded-For": "81.2.69.142" } })).status).toBe(201);
        const invite = await waitFor(() => rows(sb, "type = 'invite.created'")[0], "invite.created");
        expect(where(invite)).toEqual({ ip: "81.2.69.142", country_code: null, country_name: null, continent: null });
        await Bun.sleep(2200); // two refresh checks: still the one warning
        expect(where(await failedAuth(server, sb, "81.2.69.142")).country_code).toBeNull();
        const w = warnings(server.output());
        expect(w).toHaveLength(1);
        expect(w[0]).toContain(file);
        expect(w[0]).toContain("no locations will be logged");
      } finally {
        expect(await server.stop()).toBe(0);
        sb.cleanup();
      }
    }, 30_000);
  }

  test("a file replaced while serving is picked up without a restart (geoip_check_interval)", async () => {
    const sb = sandbox();
    const file = join(sb.dir, "GeoLite2-Country.mmdb");
    writeFileSync(sb.config, (await Bun.file(sb.config).text()) + `[audit]\ngeoip_database = ${JSON.stringify(file)}\ngeoip_check_interval = "1s"\n`);
    const server = await startServer(sb); // no file yet
    try {
      expect(where(await failedAuth(server, sb, "81.2.69.142")).country_code).toBeNull();

      // geoipupdate's way: write a new file beside it, rename it into place.
      const swap = (country: "FR" | "DE") => {
        writeFakeCountries(`${file}.tmp`, country);
        renameSync(`${file}.tmp`, file);
      };
      swap("FR");
      let octet = 0;
      const pickedUp = async (code: string | null) => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          // A different address of 81.2.69.0/24 each time: repeated failures from one address would be locked out.
          const r = await failedAuth(server, sb, `81.2.69.${(octet++ % 250) + 2}`);
          if (r.country_code === code) return r;
          if (Date.now() > deadline) throw new Error(`location never became ${code}`);
          await Bun.sleep(200);
        }
      };
      expect(where(await pickedUp("FR"))).toMatchObject({ country_code: "FR", country_name: "France", continent: "Europe" });
      swap("DE");
      expect(where(await pickedUp("DE"))).toMatchObject({ country_code: "DE", country_name: "Germany", continent: "Europe" });
      // The admin points the path at a broken file: no location (and one warning), then a good one again.
      writeFileSync(`${file}.tmp`, "not a database");
      renameSync(`${file}.tmp`, file);
      await pickedUp(null);
      copyFileSync(BUILTIN_MMDB, `${file}.tmp`);
      renameSync(`${file}.tmp`, file);
      expect(where(await pickedUp("GB"))).toMatchObject({ country_code: "GB", continent: "Europe" });
      rmSync(file);
      await pickedUp(null);
      expect(server.proc.exitCode).toBeNull();
      const w = warnings(server.output());
      expect(w).toHaveLength(3); // missing at start, broken once, gone once: not one per check
    } finally {
      await server.stop();
      sb.cleanup();
    }
  }, 60_000);

  test("location = false never opens the database (no warning for a missing file)", async () => {
    const sb = geoSandbox("/nonexistent/GeoLite2-Country.mmdb", "location = false\n");
    const server = await startServer(sb);
    try {
      expect(where(await failedAuth(server, sb, "8.8.8.8"))).toEqual({ ip: "8.8.8.8", country_code: null, country_name: null, continent: null });
      expect(warnings(server.output())).toEqual([]);
      expect((await cli(["audit", "example.com"], { config: sb.config })).code).toBe(0);
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });
});
