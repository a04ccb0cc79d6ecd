import { loadConfig, type Config } from "./config/index.ts";
import { openDatabase } from "./db/index.ts";
import { GeoIp } from "./audit/geoip.ts";
import { createLogger } from "./lib/log.ts";
import type { AppContext } from "./context.ts";
import { backfillUsernameSkeletons } from "./accounts/service.ts";

/** Config → database (migrated) → GeoIP reader: what both `serve` and every CLI command start from. */
export function openContext(configFile?: string | null, config?: Config): AppContext {
  const cfg = config ?? loadConfig(configFile);
  const log = createLogger();
  const db = openDatabase(cfg.database.path, { busyTimeout: cfg.database.busyTimeout, log });
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
