// `[audit]`.
import { type Env, Section } from "./section.ts";

export interface AuditConfig {
  enabled: boolean;
  ips: boolean;
  ipv4Prefix: number | null;
  ipv6Prefix: number | null;
  location: boolean;
  geoipDatabase: string | null;
  geoipCheckInterval: number;
  expiresAfter: number;
  maxRows: number | null;
  pruneInterval: number;
}

/** `[audit]`: what the audit log keeps, for how long, and where locations come from. */
export function readAudit(root: Section, env: Env): AuditConfig {
  const audit = root.table_("audit");
  const geoipFromFile = audit.optionalString("geoip_database");
  const auditCfg: AuditConfig = {
    enabled: audit.bool("enabled", true),
    ips: audit.bool("ips", true),
    ipv4Prefix: audit.optionalInt("ipv4_prefix", 0, 32),
    ipv6Prefix: audit.optionalInt("ipv6_prefix", 0, 128),
    location: audit.bool("location", true),
    geoipDatabase: env.INVITED_GEOIP_DATABASE ?? geoipFromFile,
    geoipCheckInterval: audit.duration("geoip_check_interval", "60s"),
    expiresAfter: audit.duration("expires_after", "28d"),
    maxRows: audit.optionalInt("max_rows", 1, Number.MAX_SAFE_INTEGER),
    pruneInterval: audit.duration("prune_interval", "1d"),
  };
  if (auditCfg.geoipDatabase === "") audit.fail("geoip_database", "must not be empty");
  // Timers cannot wait longer than 2^31 ms (~24.8 days); a longer interval would fire continuously.
  if (auditCfg.pruneInterval > 24 * 86_400_000) audit.fail("prune_interval", "must be at most 24d");
  if (auditCfg.geoipCheckInterval > 24 * 86_400_000) audit.fail("geoip_check_interval", "must be at most 24d");
  audit.done();

  return auditCfg;
}
