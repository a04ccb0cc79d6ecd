import { sqliteTable, text, integer, index, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Invite uses held while a provider creates the account downstream (invites.reserved counts them). A row outlives
 * its registration only if the process died mid-call; rows past expires_at (2 × the provider timeout) are released
 * at start-up and periodically. One row per (host, username): two people cannot provision the same name at once.
 */
export const provisionReservations = sqliteTable(
  "provision_reservations",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    inviteId: text("invite_id").notNull(),
    host: text("host").notNull(),
    username: text("username").notNull(),
    kind: text("kind").notNull(), // "account" | "reset"
    reservedAt: integer("reserved_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [uniqueIndex("provision_reservations_host_username").on(t.host, t.username), index("provision_reservations_expires").on(t.expiresAt)],
);
