import { sqliteTable, text, integer, index, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Signed-in browsers. The cookie carries a random id of 192 bits; only its SHA-256 is stored, so a copy of the
 * database cannot be turned into a working cookie. Times are epoch ms. Where a session was made and last used is
 * kept as the audit log keeps it (address cut to the [audit] prefixes, country and city from GeoIP).
 */
export const sessions = sqliteTable(
  "sessions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    idHash: text("id_hash").notNull(),
    host: text("host").notNull(),
    username: text("username").notNull(),
    createdAt: integer("created_at").notNull(),
    lastSeenAt: integer("last_seen_at").notNull(),
    /** The absolute end: created_at + [sessions] lifetime. The idle end is last_seen_at + idle_timeout. */
    expiresAt: integer("expires_at").notNull(),
    createdIp: text("created_ip"),
    createdCountry: text("created_country"),
    createdCity: text("created_city"),
    lastIp: text("last_ip"),
    lastCountry: text("last_country"),
    lastCity: text("last_city"),
    userAgent: text("user_agent"),
    /** When this sign-in passed a second factor (TOTP); NULL: password only. The admin console requires it. */
    secondFactorAt: integer("second_factor_at"),
  },
  (t) => [uniqueIndex("sessions_id_hash").on(t.idHash), index("sessions_account").on(t.host, t.username), index("sessions_expires").on(t.expiresAt)],
);
