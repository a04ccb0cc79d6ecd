import type { Database as Sqlite } from "bun:sqlite";
import { createHash } from "node:crypto";
import { journal, migrationSql } from "./migrations.generated.ts";

export interface Migration {
  tag: string;
  sql: string[];
  bps: boolean;
  folderMillis: number;
  hash: string;
}

/** The embedded migrations, in the exact shape drizzle's file-based migrator builds (same hashes). */
export const migrations: Migration[] = journal.entries.map((e) => {
  const text = migrationSql[e.tag];
  if (text === undefined) throw new Error(`embedded migration ${e.tag} is missing`);
  return {
    tag: e.tag,
    sql: text.split("--> statement-breakpoint"),
    bps: e.breakpoints,
    folderMillis: e.when,
    hash: createHash("sha256").update(text).digest("hex"),
  };
});

/** Migrations not yet applied to this database (drizzle compares against the newest created_at). */
export function pendingMigrations(sqlite: Sqlite, list: Migration[] = migrations): Migration[] {
  const table = sqlite
    .query("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'")
    .get();
  if (!table) return list;
  const last = sqlite.query("SELECT created_at FROM __drizzle_migrations ORDER BY created_at DESC LIMIT 1").get() as
    | { created_at: number }
    | null;
  return last ? list.filter((m) => m.folderMillis > Number(last.created_at)) : list;
}
