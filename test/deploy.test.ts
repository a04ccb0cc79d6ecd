// deploy/: the systemd unit (hardening, systemd-analyze verify), the nginx example and the example config.
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, cli, freePort, get } from "./helpers.ts";
import { parseDuration } from "../src/lib/duration.ts";
import { loadConfig } from "../src/config/index.ts";

const unitText = readFileSync(join(ROOT, "deploy/invited.service"), "utf8");
const nginxText = readFileSync(join(ROOT, "deploy/nginx.conf"), "utf8");
const exampleConfig = join(ROOT, "deploy/invited.toml");

/** Every `Key=Value` line of the unit (comments dropped), in order; a key may repeat. */
function directives(text: string): [string, string][] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#") && !l.startsWith(";") && !l.startsWith("["))
    .map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)] as [string, string];
    });
}
const unit = directives(unitText);
const value = (key: string) => unit.filter(([k]) => k === key).map(([, v]) => v);

function which(cmd: string): string | null {
  const r = Bun.spawnSync(["sh", "-c", `command -v ${cmd}`], { stdout: "pipe" });
  return r.exitCode === 0 ? r.stdout.toString().trim() : null;
}

describe("deploy/invited.service", () => {
  test("runs invited serve as the invited user with its state directory and config", () => {
    expect(value("User")).toEqual(["invited"]);
    expect(value("Group")).toEqual(["invited"]);
    expect(value("StateDirectory")).toEqual(["invited"]);
    expect(value("ExecStart")).toEqual(["/usr/local/bin/invited serve"]);
    expect(value("Environment")).toContain("INVITED_CONFIG=/etc/invited/invited.toml");
    expect(value("Restart")).toEqual(["on-failure"]);
    // The example config keeps its database inside StateDirectory, the only writable place.
    expect(loadConfig(exampleConfig).database.path.startsWith("/var/lib/invited/")).toBe(true);
  });

  test("is hardened, and leaves MemoryDenyWriteExecute off with a reason", () => {
    const required: Record<string, string> = {
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      PrivateDevices: "yes",
      NoNewPrivileges: "yes",
      CapabilityBoundingSet: "",
      RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX",
      SystemCallArchitectures: "native",
      LockPersonality: "yes",
      RestrictNamespaces: "yes",
      RestrictRealtime: "yes",
      RestrictSUIDSGID: "yes",
      ProtectKernelTunables: "yes",
      ProtectKernelModules: "yes",
      ProtectKernelLogs: "yes",
      ProtectControlGroups: "yes",
      ProtectClock: "yes",
      ProtectHostname: "yes",
      UMask: "0077",
    };
    for (const [k, v] of Object.entries(required)) expect({ [k]: value(k) }).toEqual({ [k]: [v] });
    expect(value("SystemCallFilter")).toContain("@system-service");
    // JavaScriptCore's JIT needs writable+executable memory.
    expect(value("MemoryDenyWriteExecute")).toEqual([]);
    expect(unitText).toMatch(/# NOT set: MemoryDenyWriteExecute=yes[^\n]*JIT/);
  });

  test("gives the graceful stop more time than server.shutdown_timeout", () => {
    const stopSec = parseDuration(value("TimeoutStopSec")[0]!)!;
    const shutdown = loadConfig(exampleConfig).server.shutdownTimeout;
    expect(stopSec).toBeGreaterThan(shutdown);
    expect(value("KillSignal")).toEqual(["SIGTERM"]);
  });

  test("passes systemd-analyze verify", () => {
    const analyze = which("systemd-analyze");
    if (!analyze) {
      if (process.env.CI) throw new Error("systemd-analyze is missing on CI: install the systemd package");
      console.warn("SKIPPED: systemd-analyze verify (systemd-analyze not installed; apt-get install systemd)");
      return;
    }
    // verify insists that ExecStart's binary exists; check a copy whose ExecStart points at one that does.
    const dir = mkdtempSync(join(tmpdir(), "invited-unit-"));
    try {
      const copy = join(dir, "invited.service");
      writeFileSync(copy, unitText.replace(/^ExecStart=\/usr\/local\/bin\/invited /m, `ExecStart=${process.execPath} `));
      expect(readFileSync(copy, "utf8")).not.toContain("/usr/local/bin/invited serve");
      const r = Bun.spawnSync([analyze, "verify", copy], { stdout: "pipe", stderr: "pipe", env: { ...process.env, SYSTEMD_LOG_COLOR: "0" } });
      const out = r.stdout.toString() + r.stderr.toString();
      expect({ code: r.exitCode, out }).toEqual({ code: 0, out: "" });

      // And the offline security review rates it well (lower is better; 10 is unhardened).
      const sec = Bun.spawnSync([analyze, "security", "--offline=yes", copy], { stdout: "pipe", stderr: "pipe" });
      const m = /Overall exposure level for invited\.service: ([\d.]+)/.exec(sec.stdout.toString());
      if (m) expect(Number(m[1])).toBeLessThan(2.5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("deploy/nginx.conf and deploy/invited.toml", () => {
  test("nginx replaces X-Forwarded-For, proxies to invited's listen address and matches the body limit", () => {
    const config = loadConfig(exampleConfig);
    expect(nginxText).toMatch(/proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;/);
    expect(nginxText).toContain(`server ${config.server.hostname}:${config.server.port};`);
    expect(nginxText).toMatch(/proxy_next_upstream\s+off;/);
    const m = /client_max_body_size\s+(\d+)([km]?);/.exec(nginxText)!;
    const bytes = Number(m[1]) * (m[2] === "m" ? 1024 * 1024 : m[2] === "k" ? 1024 : 1);
    expect(bytes).toBe(config.server.maxBodySize);
    // nginx connects from loopback, which the example config trusts for X-Forwarded-For.
    expect(config.server.trustedProxies).toContain("127.0.0.1");
  });

  test("the example config passes invited check", async () => {
    const r = await cli(["check"], { config: exampleConfig });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^config\s+ok/m);
  });
});

// The unit's core restrictions, reproduced without systemd: a read-only root file system with only the state
// directory writable (ProtectSystem=strict + StateDirectory), an unprivileged user, no capabilities and
// no_new_privs. Needs root, unshare and setpriv; skipped elsewhere.
describe("the server under the unit's file-system and privilege restrictions", () => {
  const canSandbox = process.getuid?.() === 0 && which("unshare") !== null && which("setpriv") !== null;
  test.if(canSandbox)("starts, mints an invite and stops cleanly as nobody on a read-only root", async () => {
    const dir = mkdtempSync(join(tmpdir(), "invited-sandbox-"));
    const state = join(dir, "state");
    mkdirSync(state);
    chownSync(state, 65534, 65534);
    chmodSync(state, 0o700);
    chmodSync(dir, 0o755);
    const port = freePort();
    const config = join(dir, "invited.toml");
    writeFileSync(config, `[server]\nlisten = "127.0.0.1:${port}"\n[database]\npath = "${state}/invited.db"\n[hosts."example.com"]\npublic_url = "https://example.com"\n`);
    chmodSync(config, 0o644);
    // The unprivileged user may not be able to reach this checkout (a clone under a 0700 temp dir) or node_modules'
    // bun, so it runs a binary compiled into the sandbox dir, as the unit would run /usr/local/bin/invited.
    const bin = [join(dir, "invited")];
    const build = Bun.spawnSync([process.execPath, "build", join(ROOT, "src/main.ts"), "--compile", "--no-compile-autoload-dotenv", "--outfile", bin[0]!], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr}`);
    chmodSync(bin[0]!, 0o755);
    const quoted = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const inner = [
      `mount --bind ${quoted(state)} ${quoted(state)}`,
      "mount -o remount,bind,ro /",
      `if touch ${quoted(join(dir, "probe"))} 2>/dev/null; then echo "root is writable" >&2; exit 99; fi`,
      `exec setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs --bounding-set=-all --inh-caps=-all ` +
        `env -i PATH=/usr/bin:/bin HOME=/nonexistent NO_COLOR=1 INVITED_CONFIG=${quoted(config)} ${bin.map(quoted).join(" ")} serve`,
    ].join(" && ");
    const proc = Bun.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", inner], { stdout: "pipe", stderr: "pipe" });
    try {
      let up = false;
      for (let i = 0; i < 300 && !up && proc.exitCode === null; i++) {
        up = await get(`http://127.0.0.1:${port}/healthz`).then((r) => r.status === 200, () => false);
        if (!up) await Bun.sleep(30);
      }
      if (!up) {
        proc.kill("SIGKILL");
        throw new Error(`sandboxed server did not start: ${await new Response(proc.stderr).text()}`);
      }

      // A key needs the CLI, which writes the same database from outside the sandbox.
      const key = await cli(["key", "create", "example.com"], { config });
      expect(key.code).toBe(0);
      const r = await get(`http://127.0.0.1:${port}/invites_api`, { headers: { Authorization: `Bearer ${key.stdout.trim()}` } });
      expect(r.status).toBe(201);
    } finally {
      proc.kill("SIGTERM");
      const code = await proc.exited;
      const err = proc.stderr.locked ? "(read above)" : await new Response(proc.stderr).text();
      rmSync(dir, { recursive: true, force: true });
      // A first start creates its database and says where; nothing else but warnings.
      expect({ code, err: err.replace(/^.*warn:.*\n/gm, "").replace(/^invited: created a new database at .*\/invited\.db\n/m, "") }).toEqual({ code: 0, err: "" });
    }
  }, 60_000);
});

// deploy/nginx.conf for real: nginx (when installed) in front of invited, a client on another loopback address.
// Proves the X-Forwarded-For handshake with the default trusted_proxies, and that nginx keeps /metrics and
// oversized bodies away from invited. Skipped without nginx, openssl and curl (not a CI requirement).
describe("deploy/nginx.conf in front of invited", () => {
  const tools = ["nginx", "openssl", "curl"].every((t) => which(t) !== null);
  if (!tools) console.warn("SKIPPED: nginx end-to-end test (needs nginx, openssl and curl)");
  test.if(tools)("passes the real client address, replaces a forged X-Forwarded-For, hides /metrics, limits bodies", async () => {
    const { sandbox, startServer, createKey } = await import("./helpers.ts");
    const { Database } = await import("bun:sqlite");
    const sb = sandbox();
    const server = await startServer(sb);
    const dir = mkdtempSync(join(tmpdir(), "invited-nginx-"));
    let nginx: ReturnType<typeof Bun.spawn> | null = null;
    try {
      const key = await createKey(sb);
      const cert = join(dir, "cert.pem");
      const certKey = join(dir, "key.pem");
      const gen = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=invite.example.org", "-keyout", certKey, "-out", cert], { stdout: "pipe", stderr: "pipe" });
      expect(gen.exitCode).toBe(0);
      const [p80, p443] = [freePort(), freePort()];
      const site = nginxText
        .replace(/^\s*listen \[::\]:\d+[^\n]*\n/gm, "")
        .replace(/listen 80;/, `listen 127.0.0.1:${p80};`)
        .replace(/listen 443 ssl http2;/, `listen 127.0.0.1:${p443} ssl http2;`)
        .replace(/ssl_certificate\s+\S+;/, `ssl_certificate ${cert};`)
        .replace(/ssl_certificate_key\s+\S+;/, `ssl_certificate_key ${certKey};`)
        .replace(/server 127\.0\.0\.1:5380;/, `server 127.0.0.1:${server.port};`);
      expect(site).toContain(`server 127.0.0.1:${server.port};`);
      writeFileSync(join(dir, "site.conf"), site);
      writeFileSync(
        join(dir, "nginx.conf"),
        `daemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n` +
          ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${dir}/${t};\n`).join("") +
          `  include ${dir}/site.conf;\n}\n`,
      );
      const syntax = Bun.spawnSync(["nginx", "-t", "-p", dir, "-c", join(dir, "nginx.conf")], { stdout: "pipe", stderr: "pipe" });
      expect({ code: syntax.exitCode, err: syntax.stderr.toString() }).toMatchObject({ code: 0 });
      nginx = Bun.spawn(["nginx", "-p", dir, "-c", join(dir, "nginx.conf")], { stdout: "ignore", stderr: "pipe" });

      // The client connects from 127.0.0.2; nginx reaches invited from 127.0.0.1 (a trusted proxy by default).
      const curl = async (args: string[]) => {
        for (let i = 0; i < 100; i++) {
          const r = Bun.spawnSync(["curl", "-sk", "--interface", "127.0.0.2", "-w", "\n%{http_code}", ...args], { stdout: "pipe", stderr: "pipe" });
          const out = r.stdout.toString();
          if (r.exitCode === 7) {
            await Bun.sleep(30); // nginx not listening yet
            continue;
          }
          const i2 = out.lastIndexOf("\n");
          return { status: Number(out.slice(i2 + 1)), body: out.slice(0, i2) };
        }
        throw new Error("nginx did not start");
      };
      const base = `https://127.0.0.1:${p443}`;
      const minted = await curl(["-H", `Authorization: Bearer ${key}`, "-H", "X-Forwarded-For: 8.8.8.8", `${base}/invites_api`]);
      expect(minted.status).toBe(201);
      expect((await curl([`http://127.0.0.1:${p80}/healthz`])).status).toBe(301);
      expect((await curl([`${base}/healthz`])).status).toBe(200);
      expect((await curl([`${base}/metrics`])).status).toBe(404);
      const big = join(dir, "big.bin");
      writeFileSync(big, new Uint8Array(2 * 1024 * 1024));
      expect((await curl(["-X", "POST", "--data-binary", `@${big}`, "-H", `Authorization: Bearer ${key}`, `${base}/invites_api`])).status).toBe(413);

      const db = new Database(sb.db, { readonly: true });
      const row = db.query("SELECT ip FROM audit_events WHERE type = 'invite.created'").get();
      db.close();
      expect(row).toEqual({ ip: "127.0.0.2" }); // the client nginx saw, not 8.8.8.8 and not nginx itself
    } finally {
      if (nginx) {
        nginx.kill("SIGQUIT");
        await nginx.exited;
      }
      await server.stop();
      sb.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
