import { loadConfig, type Config } from "./config/index.ts";
import { openDatabase } from "./db/index.ts";
import { GeoIp } from "./audit/geoip.ts";
import { createLogger } from "./lib/log.ts";
import type { AppContext } from "./context.ts";
import { backfillUsernameSkeletons } from "./accounts/service.ts";
import { existsSync } from "node:fs";
import { resolve } from "node:path";

export interface OpenOptions {
  /** A command that only reads: with no database file it says so and creates none (a typo'd path or cwd). */
  readOnly?: boolean;
}

/** Config → database (migrated) → GeoIP reader: what both `serve` and every CLI command start from. */
export function openContext(configFile?: string | null, config?: Config, opts: OpenOptions = {}): AppContext {
  const cfg = config ?? loadConfig(configFile);
  const log = createLogger();
  const path = cfg.database.path;
  const isNew = path !== ":memory:" && !existsSync(path);
  if (isNew && opts.readOnly) throw new Error(`no database at ${resolve(path)} (set [database] path in the config file, or INVITED_DATABASE)`);
  const db = openDatabase(path, { busyTimeout: cfg.database.busyTimeout, log });
  if (isNew) process.stderr.write(`invited: created a new database at ${resolve(path)}\n`);
  const geoip = new GeoIp(cfg.audit.geoipDatabase, cfg.audit.enabled && cfg.audit.location, log);
  const ctx: AppContext = { config: cfg, db, geoip, log };
  try {
    backfillUsernameSkeletons(ctx);
  } catch (e) {
    // Look-alike checks against those rows wait for the next start; nothing else depends on it.
    log.warn(`could not fill in username skeletons: ${(e as Error).message}`);
  }
  return ctx;
}
