import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cli, get, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { call, createKeyWith } from "./api-helpers.ts";
import { openContext } from "../src/bootstrap.ts";
import { createApiKey, verifyApiKey } from "../src/keys/service.ts";
import { CLI_ORIGIN } from "../src/context.ts";

let sb: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sb = sandbox("[limits]\nauth_failures = 0\n");
  server = await startServer(sb);
});
afterAll(async () => {
  await server.stop();
  sb.cleanup();
});

const key = (args: string[]) => cli(["key", ...args], { config: sb.config });
const mint = (k: string) => get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${k}` } });

/** Auth failures are audited after the answer is sent (their write shares a later commit): poll briefly. */
async function eventually(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 250; i++) {
    if (check()) return true;
    await Bun.sleep(20);
  }
  return check();
}

function auditEvents(type: string): { type: string; details: string; actor: string; source: string }[] {
  const d = new Database(sb.db, { readonly: true });
  try {
    return d.query("SELECT type, details, actor, source FROM audit_events WHERE type = ? ORDER BY id").all(type) as never;
  } finally {
    d.close();
  }
}

describe("key create options", () => {
  test("stores expiry, scopes, ceilings and rate; list --json shows everything; list --long shows them as columns", async () => {
    const before = Date.now();
    const secret = await createKeyWith(sb, ["--expires", "90d", "--scope", "invite:create", "--scope", "invite:list", "--max-ttl", "30d", "--max-uses", "10", "--rate", "60/min"]);
    const id = secret.split("/")[0]!;
    const j = await key(["list", "example.com", "--json"]);
    expect(j.code).toBe(0);
    const rec = (JSON.parse(j.stdout) as any[]).find((k) => k.id === id);
    expect(rec.scopes).toEqual(["invite:create", "invite:list"]);
    expect(rec.max_ttl).toBe("30d");
    expect(rec.max_uses).toBe(10);
    expect(rec.rate).toBe("60/min");
    expect(rec.status).toBe("active");
    expect(rec.disabled).toBe(false);
    expect(rec.last_used_at).toBeNull();
    const expires = Date.parse(rec.expires_at);
    expect(expires).toBeGreaterThanOrEqual(before + 90 * 86_400_000 - 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 90 * 86_400_000);
    expect(JSON.stringify(rec)).not.toContain(secret.split("/")[1]!);

    // Last use (time and IP) shows up after a call.
    expect((await mint(secret)).status).toBe(201);
    expect(
      await eventually(() => {
        const d = new Database(sb.db, { readonly: true });
        const row = d.query("SELECT last_used_at FROM api_keys WHERE id = ?").get(id) as { last_used_at: number | null };
        d.close();
        return row.last_used_at !== null;
      }),
    ).toBe(true);
    const used = (JSON.parse((await key(["list", "example.com", "--json"])).stdout) as any[]).find((k) => k.id === id);
    expect(used.last_used_ip).toBe("127.0.0.1");
    expect(Date.parse(used.last_used_at)).toBeGreaterThanOrEqual(before - 1000);

    // The default output stays ID<TAB>NAME (prosodyctl compatible); --long adds the rest with a header.
    const plain = await key(["list", "example.com"]);
    expect(plain.stdout.split("\n").find((l) => l.startsWith(id))).toBe(`${id}\ttest`);
    for (const flag of ["--long", "-l"]) {
      const long = await key(["list", "example.com", flag]);
      const lines = long.stdout.trimEnd().split("\n");
      expect(lines[0]).toBe("ID\tNAME\tSTATUS\tEXPIRES\tSCOPES\tMAX_TTL\tMAX_USES\tRATE\tLAST_USED\tLAST_IP");
      const row = lines.find((l) => l.startsWith(id))!.split("\t");
      expect(row).toEqual([id, "test", "active", expect.stringMatching(/^\d{4}-/), "invite:create,invite:list", "30d", "10", "60/min", expect.stringMatching(/^\d{4}-/), "127.0.0.1"]);
    }
    // The creation is audited with its options.
    const created = auditEvents("key.created").find((e) => e.details.includes(id))!;
    expect(JSON.parse(created.details)).toMatchObject({ key_id: id, scopes: ["invite:create", "invite:list"], max_uses: 10, rate: "60/min" });
  });

  test("a key without --scope gets invite:create only", async () => {
    const id = (await createKeyWith(sb)).split("/")[0];
    const rec = (JSON.parse((await key(["list", "example.com", "--json"])).stdout) as any[]).find((k) => k.id === id);
    expect(rec.scopes).toEqual(["invite:create"]);
    expect(rec.expires_at).toBeNull();
    expect(rec.rate).toBeNull();
  });

  test("bad option values are refused with exit 1 and create nothing", async () => {
    const before = (await key(["list", "example.com"])).stdout;
    const bad: [string[], RegExp][] = [
      [["--scope", "invite:everything"], /unknown scope 'invite:everything'/],
      [["--scope", "invite:create", "--scope", "admin"], /unknown scope 'admin'/],
      [["--scope"], /--scope needs a value|scope/],
      [["--expires", "soon"], /--expires/],
      [["--expires", "0"], /--expires/],
      [["--expires", "-5d"], /--expires/],
      [["--expires", "99999999d"], /--expires: '99999999d' is not a duration/], // over 100 years: a typo, and an unprintable date
      [["--max-ttl", "forever"], /--max-ttl/],
      [["--max-uses", "0"], /--max-uses/],
      [["--max-uses", "1.5"], /--max-uses/],
      [["--max-uses", "ten"], /--max-uses/],
      [["--max-uses", "2000000"], /--max-uses/],
      [["--rate", "60"], /--rate/],
      [["--rate", "60/week"], /--rate/],
      [["--rate", "0/min"], /--rate/],
      [["--rate", "-1/sec"], /--rate/],
      [["--rate", "60 / min"], /--rate/],
    ];
    for (const [args, message] of bad) {
      const r = await key(["create", "example.com", "x", ...args]);
      expect(`${args.join(" ")} -> ${r.code}`).toBe(`${args.join(" ")} -> 1`);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toStartWith("Error: ");
      expect(r.stdout).toBe("");
    }
    expect((await key(["list", "example.com"])).stdout).toBe(before);
  }, 60_000);
});

describe("key ids", () => {
  test("never start with - or _ (they would read as options); an old id that does can be named after --", async () => {
    const ctx = openContext(sb.config);
    try {
      for (let i = 0; i < 300; i++) {
        const { key } = await createApiKey(ctx, CLI_ORIGIN, { host: "example.com" });
        expect(key.id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{11}$/);
      }
      ctx.db.sqlite.query("UPDATE api_keys SET id = '-OldStyleId1' WHERE id = (SELECT id FROM api_keys ORDER BY created_at DESC LIMIT 1)").run();
    } finally {
      ctx.db.close();
    }
    // Without "--" the id reads as a cluster of short options: a clear error, not a parser crash message.
    const bare = await cli(["key", "delete", "example.com", "-OldStyleId1"], { config: sb.config });
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain("Missing required positional argument: ID");
    const cluster = await cli(["key", "delete", "example.com", "-AbC123xyz_q"], { config: sb.config });
    expect(cluster.code).toBe(1);
    expect(cluster.stderr).toBe('Error: cannot read the arguments; a value that starts with "-" must come after "--" (e.g. invited key delete HOST -- -ID)\n');
    for (const cmd of ["disable", "enable", "rotate", "delete"]) {
      const r = await cli(["key", cmd, "example.com", "--config", sb.config, "--", "-OldStyleId1"], { config: null });
      expect(`${cmd} ${r.code} ${r.stderr}`).toBe(`${cmd} 0 `);
    }
  }, 30_000);
});

describe("key expiry", () => {
  test("at its boundary: accepted 1 ms before expires_at, refused at it (service, real database)", async () => {
    const ctx = openContext(sb.config);
    try {
      const expiresAt = Date.now() + 60_000;
      const { secret } = await createApiKey(ctx, CLI_ORIGIN, { host: "example.com", expiresAt });
      expect(verifyApiKey(ctx, secret, expiresAt - 1).ok).toBe(true);
      const at = verifyApiKey(ctx, secret, expiresAt);
      expect(at.ok).toBe(false);
      expect(!at.ok && at.reason).toBe("expired");
    } finally {
      ctx.db.close();
    }
  });

  test("--expires 2s: works before, 403 after on both APIs; the reason goes only to the audit log", async () => {
    const secret = await createKeyWith(sb, ["--expires", "2s", "--scope", "invite:create", "--scope", "invite:list"]);
    const id = secret.split("/")[0]!;
    const createdAt = Date.now();
    expect((await mint(secret)).status).toBe(201);
    expect((await call(server.url, "GET", "/api/v1/invites", { key: secret })).status).toBe(200);
    await Bun.sleep(Math.max(0, createdAt + 2300 - Date.now()));
    const r = await mint(secret);
    expect(r.status).toBe(403);
    expect(await r.text()).toBe("");
    const j = await call(server.url, "GET", "/api/v1/invites", { key: secret });
    expect(j.status).toBe(403);
    expect(j.body.error.code).toBe("invalid_key");
    expect(j.text).not.toContain("expire");
    // Both refusals come from one client with one key and reason: the second is folded into the first row's repeats.
    expect(await eventually(() => auditEvents("key.auth_failed").filter((e) => e.details.includes(id)).length >= 1)).toBe(true);
    const failures = auditEvents("key.auth_failed").filter((e) => e.details.includes(id));
    expect(failures.every((e) => JSON.parse(e.details).reason === "expired")).toBe(true);
    const long = (await key(["list", "example.com", "-l"])).stdout.split("\n").find((l) => l.startsWith(id))!;
    expect(long.split("\t")[2]).toBe("expired");
  });
});

describe("key disable and enable", () => {
  test("a disabled key gets 403 (reason disabled in the audit log) until enabled; each change is audited once", async () => {
    const secret = await createKeyWith(sb);
    const id = secret.split("/")[0]!;
    expect((await mint(secret)).status).toBe(201);
    const d = await key(["disable", "example.com", id]);
    expect(d).toEqual({ code: 0, stdout: "", stderr: "" });
    expect((await mint(secret)).status).toBe(403);
    expect(await eventually(() => auditEvents("key.auth_failed").some((e) => e.details.includes(id) && JSON.parse(e.details).reason === "disabled"))).toBe(true);
    expect((await key(["disable", "example.com", id])).code).toBe(0); // already disabled: fine, no second event
    expect(auditEvents("key.disabled").filter((e) => e.details.includes(id))).toHaveLength(1);
    expect((await key(["list", "example.com", "--json"])).stdout).toContain('"disabled": true');

    expect((await key(["enable", "example.com", id])).code).toBe(0);
    expect((await mint(secret)).status).toBe(201);
    const enabled = auditEvents("key.enabled").filter((e) => e.details.includes(id));
    expect(enabled).toHaveLength(1);
    expect(enabled[0]!.source).toBe("cli");

    for (const cmd of ["disable", "enable"]) {
      const r = await key([cmd, "example.com", "NoSuchKeyXXX"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("Error: key not found\n");
      expect((await key([cmd, "nope.example", id])).code).toBe(1);
    }
  }, 30_000);
});

describe("key rotate", () => {
  test("prints a new ID/TOKEN with the same id; the old token works until the grace period ends", async () => {
    const old = await createKeyWith(sb);
    const id = old.split("/")[0]!;
    const r = await key(["rotate", "example.com", id, "--grace", "2s"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines).toHaveLength(2);
    const fresh = lines[0]!;
    const rotatedAt = Date.now();
    expect(fresh.split("/")[0]).toBe(id);
    expect(fresh).not.toBe(old);
    expect(fresh.split("/")[1]!.length * 6).toBeGreaterThanOrEqual(192);
    // Before the grace period ends: both work.
    expect((await mint(old)).status).toBe(201);
    expect((await mint(fresh)).status).toBe(201);
    const json = (JSON.parse((await key(["list", "example.com", "--json"])).stdout) as any[]).find((k) => k.id === id);
    expect(json.previous_token_valid_until).not.toBeNull();
    // After it: only the new one.
    await Bun.sleep(Math.max(0, rotatedAt + 2300 - Date.now()));
    expect((await mint(old)).status).toBe(403);
    expect((await mint(fresh)).status).toBe(201);
    expect(await eventually(() => auditEvents("key.auth_failed").some((e) => e.details.includes(id) && JSON.parse(e.details).reason === "mismatch"))).toBe(true);

    const ev = auditEvents("key.rotated").filter((e) => e.details.includes(id));
    expect(ev).toHaveLength(1);
    expect(JSON.parse(ev[0]!.details).grace_ms).toBe(2000);
    // Neither token is ever stored.
    const d = new Database(sb.db, { readonly: true });
    const dump = JSON.stringify(d.query("SELECT * FROM api_keys").all()) + JSON.stringify(d.query("SELECT * FROM audit_events").all());
    d.close();
    expect(dump).not.toContain(old.split("/")[1]!);
    expect(dump).not.toContain(fresh.split("/")[1]!);
  }, 30_000);

  test("--grace 0 stops the old token at once; a second rotation ends the first one's grace; default grace is 24h", async () => {
    const a = await createKeyWith(sb);
    const id = a.split("/")[0]!;
    const b = (await key(["rotate", "example.com", id, "--grace", "0"])).stdout.trim();
    expect((await mint(a)).status).toBe(403);
    expect((await mint(b)).status).toBe(201);

    const c = (await key(["rotate", "example.com", id])).stdout.trim(); // default 24h grace for b
    const json = (JSON.parse((await key(["list", "example.com", "--json"])).stdout) as any[]).find((k) => k.id === id);
    const until = Date.parse(json.previous_token_valid_until);
    expect(until - Date.now()).toBeGreaterThan(23 * 3_600_000);
    expect(until - Date.now()).toBeLessThanOrEqual(24 * 3_600_000);
    expect((await mint(b)).status).toBe(201);
    const d = (await key(["rotate", "example.com", id, "--grace", "1h"])).stdout.trim();
    expect((await mint(b)).status).toBe(403); // only the token just replaced keeps a grace period
    expect((await mint(c)).status).toBe(201);
    expect((await mint(d)).status).toBe(201);

    for (const args of [["rotate", "example.com", "NoSuchKeyXXX"], ["rotate", "example.com", id, "--grace", "soon"], ["rotate", "nope.example", id]]) {
      const r = await key(args);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
    }
  }, 30_000);
});
