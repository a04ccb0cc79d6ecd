import { sqliteTable, text, integer, index, uniqueIndex } from "drizzle-orm/sqlite-core";

export const accounts = sqliteTable(
  "accounts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    host: text("host").notNull(),
    username: text("username").notNull(), // normalised (PRECIS UsernameCaseMapped; NFKC + lower case before 0004)
    // UTS #39 confusable skeleton of the username, for "name taken" by look-alikes. NULL only until the start-up
    // backfill has run on rows written by an older build.
    passwordHash: text("password_hash"), // argon2id; NULL when a provider owns the password
    roles: text("roles").notNull().default("[]"),
    groups: text("groups").notNull().default("[]"),
    createdAt: integer("created_at").notNull(),
    inviteId: text("invite_id"),
    invitedBy: text("invited_by"),
    skeleton: text("skeleton"),
  },
  // skeleton first: the same index finds rows still to backfill (skeleton IS NULL).
  (t) => [uniqueIndex("accounts_host_username").on(t.host, t.username), index("accounts_skeleton").on(t.skeleton, t.host)],
);
