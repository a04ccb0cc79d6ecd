import { sqliteTable, text, integer, uniqueIndex } from "drizzle-orm/sqlite-core";

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
  },
  (t) => [uniqueIndex("accounts_host_username").on(t.host, t.username)],
);
