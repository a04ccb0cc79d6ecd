import type { Config } from "./config/index.ts";
import type { Db } from "./db/index.ts";
import type { GeoIp } from "./audit/geoip.ts";
import type { Logger } from "./lib/log.ts";

/** What every service needs: the validated config, the open database, the GeoIP reader and a logger. */
export interface AppContext {
  config: Config;
  db: Db;
  geoip: GeoIp;
  log: Logger;
}

/** Who caused a change and from where; carried into the audit log. Not an HTTP type: the CLI fills it too. */
export interface Origin {
  /** xmpp: through the XMPP server (mod_invited), on behalf of the client whose address is `ip`. */
  source: "api" | "web" | "cli" | "system" | "xmpp";
  actor: string | null;
  ip: string | null;
  userAgent: string | null;
}

export const CLI_ORIGIN: Origin = { source: "cli", actor: "cli", ip: null, userAgent: null };
export const SYSTEM_ORIGIN: Origin = { source: "system", actor: null, ip: null, userAgent: null };
