import { sqliteTable, text, integer, index, uniqueIndex } from "drizzle-orm/sqlite-core";

export const accounts = sqliteTable(
  "accounts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    host: text("host").notNull(),
    username: text("username").notNull(), // normalised: NFKC + lower case
    passwordHash: text("password_hash"), // argon2id; NULL when a provider owns the password
    roles: text("roles").notNull().default("[]"),
    groups: text("groups").notNull().default("[]"),
    createdAt: integer("created_at").notNull(),
    inviteId: text("invite_id"),
    invitedBy: text("invited_by"),
    /** Set by `invited user disable`: no sign-in, no invites, open invites stop working. NULL: enabled. */
    disabledAt: integer("disabled_at"),
  },
  // accounts_invited_by: the invite tree asks "whom did this member invite" (invited_by = account/<user>@<host>).
  (t) => [uniqueIndex("accounts_host_username").on(t.host, t.username), index("accounts_invited_by").on(t.host, t.invitedBy)],
);
