import { sql } from "drizzle-orm";
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
    // Confusable skeleton of the bound username of an account invite (NULL otherwise): an open bound invite
    // reserves its name and its look-alikes.
    skeleton: text("skeleton"),
  },
  // No index on token_hash: a token starts with its invite's id, so lookups go through the primary key and the
  // hash is then compared in constant time. A random-order hash index made every insert touch a random page.
  // The skeleton indexes are partial, so the hot path (unbound invites) never writes to them. invites_member_created
  // holds only invites that members made (the quota counts them, "my invites" lists them), so invites minted by the
  // CLI and API keys pay nothing for it.
  (t) => [
    index("invites_host_created").on(t.host, t.createdAt),
    // The console's count of open invites: only the not yet expired, not revoked ones, instead of every invite.
    index("invites_host_open").on(t.host, t.expiresAt).where(sql`revoked_at IS NULL`),
    index("invites_host_skeleton").on(t.host, t.skeleton).where(sql`skeleton IS NOT NULL`),
    index("invites_skeleton_missing").on(t.id).where(sql`kind = 'account' AND username IS NOT NULL AND skeleton IS NULL`),
    index("invites_member_created").on(t.createdBy, t.createdAt).where(sql`created_by LIKE 'account/%'`),
  ],
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
