import { sql } from "drizzle-orm";
import { sqliteTable, text, integer, index } from "drizzle-orm/sqlite-core";

export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    host: text("host").notNull().default(""),
    user: text("user").notNull().default(""), // "" for host-wide events
    source: text("source").notNull(), // api | web | cli | system | xmpp
    type: text("type").notNull(),
    actor: text("actor"),
    ip: text("ip"),
    countryCode: text("country_code"),
    countryName: text("country_name"),
    continent: text("continent"),
    city: text("city"), // only when the GeoIP database has cities (GeoLite2-City, DB-IP City)
    userAgent: text("user_agent"),
    details: text("details").notNull().default("{}"),
  },
  // Every index costs each insert a B-tree write and each commit a WAL page, so there are two: (host, at) for a host's
  // events and for pruning by age, host by host; (host, user, at) only over account events, which queries reach by
  // repeating its `user <> ''` condition. Host-wide events (most API mints) skip it. A third, partial index holds only
  // the events strangers can cause (NOISE_TYPES in service.ts), so `max_rows` can prune those first without a scan.
  (t) => [
    index("audit_host_at").on(t.host, t.at),
    index("audit_host_user_at").on(t.host, t.user, t.at).where(sql`user <> ''`),
    index("audit_noise_host_at").on(t.host, t.at).where(sql`type IN ('registration.refused', 'key.auth_failed', 'account.login_failed')`),
  ],
);
