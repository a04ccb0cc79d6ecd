import { loadConfig, type Config } from "./config/index.ts";
import { openDatabase } from "./db/index.ts";
import { GeoIp } from "./audit/geoip.ts";
import { createLogger } from "./lib/log.ts";
import type { AppContext } from "./context.ts";

/** Config → database (migrated) → GeoIP reader: what both `serve` and every CLI command start from. */
export function openContext(configFile?: string | null, config?: Config): AppContext {
  const cfg = config ?? loadConfig(configFile);
  const log = createLogger();
  const db = openDatabase(cfg.database.path, { busyTimeout: cfg.database.busyTimeout, log });
  const geoip = new GeoIp(cfg.audit.geoipDatabase, cfg.audit.enabled && cfg.audit.location, log);
  return { config: cfg, db, geoip, log };
}
