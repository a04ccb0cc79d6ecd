import { Database as Sqlite } from "bun:sqlite";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { closeSync, fchmodSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import * as keys from "../keys/schema.ts";
import * as invites from "../invites/schema.ts";
import * as accounts from "../accounts/schema.ts";
import * as audit from "../audit/schema.ts";
import { migrations, pendingMigrations, type Migration } from "./migrations.ts";
import { WriteBatcher } from "./batcher.ts";
import { onePer } from "../lib/memo.ts";

export const schema = { ...keys, ...invites, ...accounts, ...audit };
export type Orm = BunSQLiteDatabase<typeof schema>;

export interface Db {
  path: string;
  sqlite: Sqlite;
  orm: Orm;
  /** Runs `fn` inside a write transaction; under load many callers share one commit (see batcher.ts). */
  write<T>(fn: () => T): Promise<T>;
  /** Calls `listener` after every committed write transaction; returns the function that removes it. */
  onCommit(listener: () => void): () => void;
  /** null when the database answers reads and takes writes; otherwise the error that shows it does not (/healthz). */
  health(): Promise<Error | null>;
  close(): void;
}

export interface OpenOptions {
  busyTimeout?: number;
  /** Where to warn about a database file that others may read (the server and every command pass theirs). */
  log?: { warn(message: string): void };
  /** Apply only these migrations (tests use this to build an "older" database). */
  migrations?: Migration[];
  readonly?: boolean;
}

export function openDatabase(path: string, options: OpenOptions = {}): Db {
  if (path !== ":memory:" && !options.readonly) {
    mkdirSync(dirname(path), { recursive: true });
    createOwnerOnly(path);
    if (options.log) for (const problem of fileModeProblems(path)) options.log.warn(problem);
  }
  const sqlite = new Sqlite(path, options.readonly ? { readonly: true } : { create: true, readwrite: true, strict: true });
  try {
    const busyTimeout = Math.max(0, Math.round(options.busyTimeout ?? 5000));
    sqlite.exec(`PRAGMA busy_timeout = ${busyTimeout}`);
    if (!options.readonly) {
      enableWal(sqlite, busyTimeout);
      sqlite.exec("PRAGMA synchronous = NORMAL");
      // The commit that takes the WAL past ~16 MB checkpoints it (instead of 4 MB: fewer, larger checkpoints cost less
      // per commit). In the server a background thread does most of that copying first (checkpointer.ts).
      sqlite.exec("PRAGMA wal_autocheckpoint = 4000");
    }
    sqlite.exec("PRAGMA foreign_keys = ON");
    const orm = drizzle({ client: sqlite, schema });
    if (!options.readonly) applyMigrations(sqlite, orm, options.migrations ?? migrations);
    const batcher = new WriteBatcher(sqlite, path);
    const write = <T>(fn: () => T) => batcher.run(fn);
    return {
      path,
      sqlite,
      orm,
      write,
      onCommit: (listener) => {
        batcher.commitListeners.add(listener);
        return () => batcher.commitListeners.delete(listener);
      },
      health: healthCheck(sqlite, batcher, write),
      close: () => {
        batcher.flushNow();
        try {
          sqlite.exec("PRAGMA optimize");
        } catch {}
        sqlite.close();
      },
    };
  } catch (e) {
    sqlite.close();
    throw e;
  }
}

/**
 * Creates a missing database file as mode 0600, whatever the umask, before SQLite opens it: it holds key and invite
 * hashes and client addresses. SQLite gives the -wal and -shm it creates later the main file's mode (and fchmods them
 * to it, so the umask does not matter there either). An existing file is left as it is.
 */
function createOwnerOnly(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch {
    return; // it exists (then it keeps its mode), or SQLite will fail to open it too and say why in its own words
  }
  try {
    fchmodSync(fd, 0o600); // a umask like 0277 would have taken the owner's write bit
  } finally {
    closeSync(fd);
  }
}

/** The database, its -wal and -shm: one line for each that exists with any permission for group or others. */
export function fileModeProblems(path: string): string[] {
  const problems: string[] = [];
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      continue; // -wal and -shm exist only while a connection is open
    }
    if ((mode & 0o077) !== 0) {
      const octal = mode.toString(8).padStart(4, "0");
      problems.push(`${file} is mode ${octal}: open to group or others (it holds key and invite hashes and client addresses); chmod 600 ${file}`);
    }
  }
  return problems;
}

function healthCheck(sqlite: Sqlite, batcher: WriteBatcher, write: Db["write"]): Db["health"] {
  let probe: Promise<void> | null = null;
  return async () => {
    try {
      batcher.assertFileInPlace();
      sqlite.query("SELECT count(*) FROM __drizzle_migrations").get();
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
    if (!batcher.lastFailure) return null;
    // The last write failed. Try a write that changes nothing yet really reaches the file, so health recovers
    // without waiting for real traffic. (An UPDATE to the same value is not enough: SQLite skips identical cells.
    // Setting user_version always rewrites page 1; invited does not use user_version.) Concurrent checks share it.
    probe ??= write(() => {
      const v = Number((sqlite.query("PRAGMA user_version").get() as { user_version: number }).user_version) | 0;
      sqlite.exec(`PRAGMA user_version = ${v}`);
    }).finally(() => (probe = null));
    try {
      await probe;
    } catch {}
    return batcher.lastFailure?.error ?? null;
  };
}

/**
 * Switches a database to WAL. On a brand-new file that another process is creating at the same moment, SQLite
 * answers SQLITE_BUSY at once instead of calling the busy handler, so wait here as busy_timeout would.
 */
function enableWal(sqlite: Sqlite, busyTimeout: number): void {
  const deadline = Date.now() + busyTimeout;
  for (;;) {
    try {
      sqlite.exec("PRAGMA journal_mode = WAL");
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== "SQLITE_BUSY" || Date.now() >= deadline) throw e;
      Bun.sleepSync(5 + Math.random() * 20);
    }
  }
}

function applyMigrations(sqlite: Sqlite, orm: Orm, list: Migration[]): void {
  // The CLI and the server may open the same new file at once; whoever loses the race finds nothing pending.
  for (let attempt = 0; ; attempt++) {
    if (pendingMigrations(sqlite, list).length === 0) return;
    try {
      (orm as unknown as { dialect: { migrate: Function }; session: unknown }).dialect.migrate(list, (orm as any).session, {
        migrationsFolder: "(embedded)",
      });
      return;
    } catch (e) {
      if (attempt >= 20 || pendingMigrations(sqlite, list).length === 0) {
        if (pendingMigrations(sqlite, list).length === 0) return;
        throw e;
      }
      Bun.sleepSync(25 + Math.random() * 50);
    }
  }
}

/** Memoises a prepared statement per open database: `const stmt = perDb((db) => db.orm....prepare())`. */
export const perDb = <T>(factory: (db: Db) => T): ((db: Db) => T) => onePer(factory);
