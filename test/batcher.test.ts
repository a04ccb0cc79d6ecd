// The group-commit batcher against a real SQLite file, for failures the HTTP tests cannot aim at one batch.
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WriteBatcher } from "../src/db/batcher.ts";

test("a job that makes SQLite roll back the whole transaction fails its whole batch; nothing of it is committed", async () => {
  const dir = mkdtempSync(join(tmpdir(), "invited-batcher-"));
  const path = join(dir, "x.db");
  const db = new Database(path, { create: true, readwrite: true });
  try {
    db.exec("PRAGMA journal_mode = WAL; CREATE TABLE small (v TEXT); CREATE TABLE big (v TEXT)");
    const pages = (db.query("PRAGMA page_count").get() as { page_count: number }).page_count;
    db.exec(`PRAGMA max_page_count = ${pages + 3}`); // the second job needs far more: SQLITE_FULL mid-batch
    const batcher = new WriteBatcher(db, path);
    const insert = (table: string, v: string) => () => db.query(`INSERT INTO ${table} VALUES (?)`).run(v);
    const results = await Promise.allSettled([
      batcher.run(insert("small", "first")),
      batcher.run(insert("big", "x".repeat(200_000))),
      batcher.run(insert("small", "third")),
    ]);
    for (const r of results) {
      expect(r.status).toBe("rejected");
      expect((r as PromiseRejectedResult).reason.code).toBe("SQLITE_FULL");
    }
    expect(db.inTransaction).toBe(false);
    expect(db.query("SELECT count(*) AS n FROM small").get()).toEqual({ n: 0 });
    expect(batcher.lastFailure?.error.message).toContain("full");

    // Room again: the next batch commits, and an ordinary failing job still only fails itself.
    db.exec("PRAGMA max_page_count = 1000000");
    const next = await Promise.allSettled([
      batcher.run(insert("small", "again")),
      batcher.run(() => db.query("INSERT INTO missing VALUES (1)").run()),
      batcher.run(insert("small", "and again")),
    ]);
    expect(next.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(db.query("SELECT v FROM small ORDER BY rowid").all()).toEqual([{ v: "again" }, { v: "and again" }]);
    expect(batcher.lastFailure).toBeNull();
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
