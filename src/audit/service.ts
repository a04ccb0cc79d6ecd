import { sql } from "drizzle-orm";
import type { AppContext, Origin } from "../context.ts";
import { perDb } from "../db/index.ts";
import { auditEvents } from "./schema.ts";
import { parseIp, truncateIp } from "../lib/ip.ts";

export type AuditType =
  | "key.created"
  | "key.deleted"
  | "key.rotated"
  | "key.disabled"
  | "key.enabled"
  | "key.auth_failed"
  | "auth.lockout"
  | "invite.created"
  | "invite.revoked"
  | "invite.used"
  | "account.registered"
  | "account.password_reset"
  | "account.deleted"
  | "registration.refused"
  | "server.started"
  | "server.stopped";

export interface AuditInput {
  type: AuditType;
  host?: string;
  user?: string;
  details?: Record<string, unknown>;
}

/**
 * Writes one audit row. Call it inside the same write transaction as the change it records, so a change never
 * exists without its event. Location comes from the full address; only then is the address cut to its prefix.
 */
export function recordEvent(ctx: AppContext, origin: Origin, event: AuditInput, at = Date.now()): void {
  const cfg = ctx.config.audit;
  const location = cfg.location && origin.ip ? ctx.geoip.lookup(origin.ip) : null;
  let ip: string | null = null;
  if (cfg.ips && origin.ip) {
    const addr = parseIp(origin.ip);
    ip = addr ? truncateIp(addr, cfg.ipv4Prefix, cfg.ipv6Prefix) : null;
  }
  insertEvent(ctx.db).run({
    at,
    host: event.host ?? "",
    user: event.user ?? "",
    source: origin.source,
    type: event.type,
    actor: origin.actor,
    ip,
    countryCode: location?.countryCode ?? null,
    countryName: location?.countryName ?? null,
    continent: location?.continent ?? null,
    userAgent: origin.userAgent ? origin.userAgent.slice(0, 512) : null,
    details: JSON.stringify(event.details ?? {}),
  });
}

const placeholder = (name: string) => sql.placeholder(name);
const insertEvent = perDb((db) =>
  db.orm
    .insert(auditEvents)
    .values({
      at: placeholder("at"),
      host: placeholder("host"),
      user: placeholder("user"),
      source: placeholder("source"),
      type: placeholder("type"),
      actor: placeholder("actor"),
      ip: placeholder("ip"),
      countryCode: placeholder("countryCode"),
      countryName: placeholder("countryName"),
      continent: placeholder("continent"),
      userAgent: placeholder("userAgent"),
      details: placeholder("details"),
    })
    .prepare(),
);
