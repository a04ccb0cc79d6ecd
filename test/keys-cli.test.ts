import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { readFileSync } from "node:fs";
import { cli, sandbox } from "./helpers.ts";

describe("invited key (prosodyctl mod_invites_api compatible)", () => {
  test("create prints exactly one ID/TOKEN line; the token is stored only as a hash", async () => {
    const sb = sandbox();
    try {
      const r = await cli(["key", "create", "example.com", "My test key"], { config: sb.config });
      expect(r.code).toBe(0);
      // The first command that writes creates the database, and says where (stderr, so stdout stays one line).
      expect(r.stderr).toBe(`invited: created a new database at ${sb.db}\n`);
      const lines = r.stdout.split("\n");
      expect(lines.length).toBe(2);
      expect(lines[1]).toBe("");
      const [id, token] = lines[0]!.split("/");
      expect(id).toMatch(/^[A-Za-z0-9_-]{12}$/);
      // >= 192 bits: base64url carries 6 bits per character.
      expect(token!.length * 6).toBeGreaterThanOrEqual(192);
      expect(token).toMatch(/^[A-Za-z0-9_-]+$/);

      const db = new Database(sb.db, { readonly: true });
      const row = db.query("SELECT * FROM api_keys WHERE id = ?").get(id!) as Record<string, unknown>;
      db.close();
      expect(row.host).toBe("example.com");
      expect(row.name).toBe("My test key");
      expect(JSON.stringify(row)).not.toContain(token!);
      expect(readFileSync(sb.db).includes(token!)).toBe(false);
    } finally {
      sb.cleanup();
    }
  });

  test("two keys never share an id or token", async () => {
    const sb = sandbox();
    try {
      const a = (await cli(["key", "create", "example.com"], { config: sb.config })).stdout.trim();
      const b = (await cli(["key", "create", "example.com"], { config: sb.config })).stdout.trim();
      expect(a.split("/")[0]).not.toBe(b.split("/")[0]);
      expect(a.split("/")[1]).not.toBe(b.split("/")[1]);
    } finally {
      sb.cleanup();
    }
  });

  test("list prints ID<TAB>NAME, with <unknown> for a key without a name; --json prints full records", async () => {
    const sb = sandbox();
    try {
      const named = (await cli(["key", "create", "example.com", "Named"], { config: sb.config })).stdout.trim().split("/")[0];
      const anon = (await cli(["key", "create", "example.com"], { config: sb.config })).stdout.trim().split("/")[0];
      const r = await cli(["key", "list", "example.com"], { config: sb.config });
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${named}\tNamed\n${anon}\t<unknown>\n`);

      const j = await cli(["key", "list", "example.com", "--json"], { config: sb.config });
      expect(j.code).toBe(0);
      const records = JSON.parse(j.stdout) as Record<string, unknown>[];
      expect(records.map((k) => k.id)).toEqual([named, anon]);
      for (const k of records) {
        expect(Object.keys(k)).toEqual(expect.arrayContaining(["id", "name", "created_at", "last_used_at"]));
        expect(JSON.stringify(k)).not.toMatch(/token_hash|tokenHash/);
      }
      expect(records[1]!.name).toBeNull();
    } finally {
      sb.cleanup();
    }
  });

  test("delete is silent on success; an unknown id is 'Error: key not found' with exit 1", async () => {
    const sb = sandbox();
    try {
      const id = (await cli(["key", "create", "example.com"], { config: sb.config })).stdout.trim().split("/")[0]!;
      const ok = await cli(["key", "delete", "example.com", id], { config: sb.config });
      expect(ok).toEqual({ code: 0, stdout: "", stderr: "" });
      expect((await cli(["key", "list", "example.com"], { config: sb.config })).stdout).toBe("");

      const again = await cli(["key", "delete", "example.com", id], { config: sb.config });
      expect(again.code).toBe(1);
      expect(again.stderr).toBe("Error: key not found\n");
      expect(again.stdout).toBe("");
    } finally {
      sb.cleanup();
    }
  });

  test("an unquoted name with spaces or a second id is an error, not silently cut to its first word", async () => {
    const sb = sandbox();
    try {
      const split = await cli(["key", "create", "example.com", "My", "test", "key"], { config: sb.config });
      expect(split.code).toBe(1);
      expect(split.stderr).toContain("unexpected argument 'test' (quote a value that has spaces)");
      expect((await cli(["key", "list", "example.com"], { config: sb.config })).stdout).toBe("");
      const quoted = await cli(["key", "create", "example.com", "My test key"], { config: sb.config });
      expect(quoted.code).toBe(0);
      const id = quoted.stdout.trim().split("/")[0]!;
      expect((await cli(["key", "list", "example.com"], { config: sb.config })).stdout).toBe(`${id}\tMy test key\n`);
      const tabbed = await cli(["key", "create", "example.com", "a\nb\tc"], { config: sb.config });
      expect(tabbed.code).toBe(1);
      expect(tabbed.stderr).toContain("name must not contain tabs, newlines or other control characters");
      const two = await cli(["key", "delete", "example.com", id, "SECONDidxxxx"], { config: sb.config });
      expect(two.code).toBe(1);
      expect((await cli(["key", "list", "example.com"], { config: sb.config })).stdout).toBe(`${id}\tMy test key\n`);
    } finally {
      sb.cleanup();
    }
  });

  test("a key of one host cannot be deleted through another host", async () => {
    const sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."other.org"]\npublic_url = "https://other.org"\n`);
    try {
      const id = (await cli(["key", "create", "example.com"], { config: sb.config })).stdout.trim().split("/")[0]!;
      const r = await cli(["key", "delete", "other.org", id], { config: sb.config });
      expect(r.code).toBe(1);
      expect((await cli(["key", "list", "example.com"], { config: sb.config })).stdout).toContain(id);
      expect((await cli(["key", "list", "other.org"], { config: sb.config })).stdout).toBe("");
    } finally {
      sb.cleanup();
    }
  });

  test("a host that is not configured is an error with exit 1", async () => {
    const sb = sandbox();
    try {
      for (const args of [["key", "create", "nope.example"], ["key", "list", "nope.example"], ["key", "delete", "nope.example", "AAAAAAAAAAAA"]]) {
        const r = await cli(args, { config: sb.config });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("nope.example");
        expect(r.stdout).toBe("");
      }
    } finally {
      sb.cleanup();
    }
  });

  test("an unknown subcommand prints usage and exits non-zero", async () => {
    const sb = sandbox();
    try {
      const r = await cli(["key", "frobnicate", "example.com"], { config: sb.config });
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/USAGE|Usage/);
      const top = await cli(["frobnicate"]);
      expect(top.code).not.toBe(0);
      const missing = await cli(["key", "create"], { config: sb.config });
      expect(missing.code).not.toBe(0);
    } finally {
      sb.cleanup();
    }
  });
});
