import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli, freePort, get, sandbox, startServer, writeConfig } from "./helpers.ts";

async function configError(toml: string) {
  const sb = sandbox();
  writeConfig(sb, toml);
  try {
    const r = await cli(["key", "list", "example.com"], { config: sb.config });
    return { ...r, file: sb.config };
  } finally {
    sb.cleanup();
  }
}

describe("configuration errors exit 2 and name the key and the file", () => {
  const cases: [string, string, RegExp][] = [
    ["unknown top-level key", `colour = "blue"\n`, /'colour' is not a known setting/],
    ["unknown key in a section", `[server]\nlisen = "127.0.0.1:1"\n`, /'server\.lisen' is not a known setting/],
    ["unknown host key", `[hosts."example.com"]\npublic_url = "https://example.com"\ninvite_tll = "7d"\n`, /'hosts\."example\.com"\.invite_tll' is not a known setting/],
    ["wrong type", `[server]\nlisten = 5280\n`, /'server\.listen' must be a string/],
    ["wrong type for a list", `[server]\ntrusted_proxies = "127.0.0.1"\n`, /'server\.trusted_proxies' must be a list/],
    ["bad duration", `[hosts."example.com"]\ninvite_ttl = "7 days"\n`, /'hosts\."example\.com"\.invite_ttl' is not a valid duration/],
    ["duration as a number", `[hosts."example.com"]\ninvite_ttl = 7\n`, /'hosts\."example\.com"\.invite_ttl' must be a duration/],
    ["zero duration", `[audit]\nexpires_after = "0d"\n`, /'audit\.expires_after' is not a valid duration/],
    ["bad listen", `[server]\nlisten = "localhost"\n`, /'server\.listen' must be "ADDRESS:PORT"/],
    ["bad proxy", `[server]\ntrusted_proxies = ["10.0.0.0/99"]\n`, /'server\.trusted_proxies' has an invalid address/],
    ["bad public_url", `[hosts."example.com"]\npublic_url = "ftp://x"\n`, /'hosts\."example\.com"\.public_url' must be an http\(s\) URL/],
    ["bad invite_path", `[hosts."example.com"]\ninvite_path = "invite"\n`, /'hosts\."example\.com"\.invite_path' must be an absolute URL path/],
    ["the API on the landing page's path", `[server]\ninvites_api_path = "/invite"\n`, /'server\.invites_api_path' and 'hosts\."localhost"\.invite_path' are both "\/invite"/],
    ["a landing page on the registration path", `[hosts."example.com"]\ninvite_path = "/register"\n`, /'hosts\."example\.com"\.invite_path' and 'hosts\."example\.com"\.register_path' are both "\/register"/],
    ["one host's page on another's", `[hosts."example.com"]\n[hosts."b.org"]\ninvite_path = "/join"\nregister_path = "/invite"\n`, /'hosts\."example\.com"\.invite_path' and 'hosts\."b\.org"\.register_path' are both "\/invite"/],
    ["a page on /healthz", `[hosts."example.com"]\ninvite_path = "/healthz"\n`, /'hosts\."example\.com"\.invite_path' "\/healthz" is a path invited already serves/],
    ["a page under /api/v1", `[hosts."example.com"]\nregister_path = "/api/v1/register"\n`, /"\/api\/v1\/register" is a path invited already serves/],
    ["idle_timeout under 1s", `[server]\nidle_timeout = "500ms"\n`, /'server\.idle_timeout' must be between 1s and 255s/],
    ["shutdown_timeout beyond 1h", `[server]\nshutdown_timeout = "30d"\n`, /'server\.shutdown_timeout' must be at most 1h/],
    ["ttl above maximum", `[hosts."example.com"]\ninvite_ttl = "60d"\ninvite_max_ttl = "30d"\n`, /invite_ttl' is longer than invite_max_ttl/],
    ["bad host name", `[hosts."Not A Host"]\n`, /is not a valid lower-case host name/],
    ["out of range", `[audit]\nipv4_prefix = 33\n`, /'audit\.ipv4_prefix' must be between 0 and 32/],
    ["section is not a table", `server = 1\n`, /'server' must be a table/],
    ["invalid TOML", `[server\nlisten = "x"\n`, /invalid TOML/],
  ];
  for (const [name, toml, message] of cases) {
    test(name, async () => {
      const r = await configError(toml);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain(r.file);
      expect(r.stdout).toBe("");
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    });
  }

  test("a missing config file exits 2, with --config and with INVITED_CONFIG", async () => {
    const a = await cli(["key", "list", "localhost", "--config", "/nonexistent/invited.toml"]);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("/nonexistent/invited.toml");
    const b = await cli(["key", "list", "localhost"], { env: { INVITED_CONFIG: "/nonexistent/x.toml" } });
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("/nonexistent/x.toml");
  });

  test("serve never starts with a half-valid config", async () => {
    const sb = sandbox(`[audit]\nexpires_after = "forever"\n`);
    try {
      const r = await cli(["serve"], { config: sb.config });
      expect(r.code).toBe(2);
      expect(existsSync(sb.db)).toBe(false);
    } finally {
      sb.cleanup();
    }
  });
});

describe("config sources", () => {
  test("INVITED_CONFIG is read when --config is absent", async () => {
    const sb = sandbox();
    try {
      const r = await cli(["key", "create", "example.com"], { env: { INVITED_CONFIG: sb.config } });
      expect(r.code).toBe(0);
      expect(existsSync(sb.db)).toBe(true);
    } finally {
      sb.cleanup();
    }
  });

  test("environment overrides: INVITED_DATABASE and INVITED_PUBLIC_URL", async () => {
    const sb = sandbox();
    try {
      const other = join(sb.dir, "other.db");
      const key = (await cli(["key", "create", "example.com"], { config: sb.config, env: { INVITED_DATABASE: other } })).stdout.trim();
      expect(existsSync(other)).toBe(true);
      expect(existsSync(sb.db)).toBe(false);
      const server = await startServer(sb, { env: { INVITED_DATABASE: other, INVITED_PUBLIC_URL: "https://invites.example.net" } });
      try {
        const r = await get(`${server.url}/invites_api?key=${key}`);
        expect(r.status).toBe(201);
        expect(r.headers.get("location")).toMatch(/^https:\/\/invites\.example\.net\/invite\?/);
      } finally {
        await server.stop();
      }
    } finally {
      sb.cleanup();
    }
  });

  test("an invalid environment override is a config error too", async () => {
    const sb = sandbox();
    try {
      const r = await cli(["key", "list", "example.com"], { config: sb.config, env: { INVITED_LISTEN: "nonsense" } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("server.listen");
      // An empty value is not "unset": it is refused like any other bad value, never silently replaced.
      expect(r.stderr).toContain("(from INVITED_LISTEN)"); // the file is not to blame
      for (const [name, setting] of [["INVITED_DATABASE", "database.path"], ["INVITED_GEOIP_DATABASE", "audit.geoip_database"], ["INVITED_LISTEN", "server.listen"], ["INVITED_TRUSTED_PROXIES", "server.trusted_proxies"]] as const) {
        const empty = await cli(["key", "list", "example.com"], { config: sb.config, env: { [name]: "" } });
        expect({ name, code: empty.code }).toEqual({ name, code: 2 });
        expect(empty.stderr).toContain(setting);
      }
      const noFile = await cli(["key", "list", "example.com"], { env: { INVITED_CONFIG: "" } });
      expect(noFile.code).toBe(2);
      expect(noFile.stderr).toContain("INVITED_CONFIG is set to an empty value");
    } finally {
      sb.cleanup();
    }
  });

  test("no config at all: host localhost, ./invited.db, public URL http://localhost:5380", async () => {
    const dir = mkdtempSync(join(tmpdir(), "invited-defaults-"));
    try {
      const key = await cli(["key", "create", "localhost"], { cwd: dir });
      expect(key.code).toBe(0);
      expect(existsSync(join(dir, "invited.db"))).toBe(true);
      // The default listen address is 127.0.0.1:5380; use it only when it is free on this machine.
      let free = true;
      try {
        Bun.listen({ hostname: "127.0.0.1", port: 5380, socket: { data() {} } }).stop(true);
      } catch {
        free = false;
      }
      if (!free) return;
      const proc = Bun.spawn([process.execPath, join(import.meta.dir, "../src/main.ts"), "serve"], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "" } });
      try {
        let r: Response | null = null;
        for (let i = 0; i < 200 && !r; i++) {
          try {
            r = await get(`http://127.0.0.1:5380/invites_api`, { headers: { Authorization: `Bearer ${key.stdout.trim()}` } });
          } catch {
            await Bun.sleep(25);
          }
        }
        expect(r!.status).toBe(201);
        expect(r!.headers.get("location")).toMatch(/^http:\/\/localhost:5380\/invite\?[A-Za-z0-9_-]+$/);
      } finally {
        proc.kill("SIGTERM");
        expect(await proc.exited).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a full example config with every documented section loads", async () => {
    const sb = sandbox();
    try {
      writeFileSync(
        sb.config,
        `[server]
listen = "127.0.0.1:${freePort()}"
trusted_proxies = ["127.0.0.1", "::1", "10.0.0.0/8"]
invites_api_path = "/invites_api"
shutdown_timeout = "10s"
max_body_size = 1048576
idle_timeout = "30s"
request_log = true
metrics_allow = ["127.0.0.1"]

[database]
path = ${JSON.stringify(sb.db)}
busy_timeout = "5s"

[audit]
ips = true
ipv4_prefix = 24
ipv6_prefix = 48
location = true
expires_after = "28d"
max_rows = 1000000

[limits]
auth_failures = 10
auth_window = "10m"
lockout = "15m"

[hosts."example.com"]
public_url = "https://example.com"
invite_path = "/invite"
invite_ttl = "7d"
invite_max_ttl = "30d"
reset_ttl = "1d"
`,
      );
      const r = await cli(["key", "create", "example.com"], { config: sb.config });
      expect(r.stderr).toBe(`invited: created a new database at ${sb.db}\n`);
      expect(r.code).toBe(0);
    } finally {
      sb.cleanup();
    }
  });
});
