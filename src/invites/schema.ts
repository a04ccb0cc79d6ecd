import { sqliteTable, text, integer, index } from "drizzle-orm/sqlite-core";

/**
 * Invites. Times are epoch milliseconds. max_uses NULL means unlimited (only when asked for explicitly).
 * The token handed out is `<id><22 random characters>`; only its SHA-256 is stored.
 */
export const invites = sqliteTable(
  "invites",
  {
    id: text("id").primaryKey(),
    host: text("host").notNull(),
    kind: text("kind").notNull(), // "account" | "reset"
    tokenHash: text("token_hash").notNull(),
    username: text("username"), // bound username (account) or target account (reset)
    groups: text("groups").notNull().default("[]"),
    roles: text("roles").notNull().default("[]"),
    note: text("note"),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    maxUses: integer("max_uses"),
    uses: integer("uses").notNull().default(0),
    // Uses held by registrations whose downstream provisioning is in flight.
    reserved: integer("reserved").notNull().default(0),
    revokedAt: integer("revoked_at"),
    createdBy: text("created_by").notNull(), // "api/token/<ID>" | "cli" | "account/<user>@<host>"
    data: text("data").notNull().default("{}"),
  },
  // No index on token_hash: a token starts with its invite's id, so lookups go through the primary key and the
  // hash is then compared in constant time. A random-order hash index made every insert touch a random page.
  (t) => [index("invites_host_created").on(t.host, t.createdAt)],
);

/** Redemption ledger: survives the invite's expiry and the account's deletion. */
export const redemptions = sqliteTable(
  "redemptions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    inviteId: text("invite_id").notNull(),
    host: text("host").notNull(),
    username: text("username").notNull(),
    kind: text("kind").notNull(),
    usedAt: integer("used_at").notNull(),
    inviteCreatedBy: text("invite_created_by").notNull(),
    source: text("source").notNull(), // "web" | "api" | "xmpp" (through the XMPP server, mod_invited)
  },
  (t) => [index("redemptions_invite").on(t.inviteId), index("redemptions_host_user").on(t.host, t.username)],
);
