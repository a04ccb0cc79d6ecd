import { sqliteTable, text, integer } from "drizzle-orm/sqlite-core";

/**
 * The last report of each host's Prosody module (mod_invited, POST /api/v1/xmpp/report): with app_registration =
 * "auto", the app button and xmpp: links are offered only while it is recent. One row per host, overwritten.
 */
export const prosodyReports = sqliteTable("prosody_reports", {
  host: text("host").primaryKey(),
  reportedAt: integer("reported_at").notNull(),
  prosodyVersion: text("prosody_version"),
  moduleVersion: text("module_version"),
});
