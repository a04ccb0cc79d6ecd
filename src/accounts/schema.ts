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
    /** Set by `invited user disable`: no sign-in, no invites, open invites stop working. NULL: enabled. */
    disabledAt: integer("disabled_at"),
    /**
     * TOTP (RFC 6238) secret enrolled by `invited user totp`, encrypted with AES-256-GCM under the key file beside the
     * database (accounts/totp.ts), so a copy of the database alone does not give the codes. NULL: not enrolled.
     */
    totpSecret: text("totp_secret"),
    /** The last time step whose code was accepted: a code works once, and no older one after it. */
    totpLastStep: integer("totp_last_step"),
  },
  // skeleton first: the same index finds rows still to backfill (skeleton IS NULL). accounts_invited_by: the invite
  // tree asks "whom did this member invite" (invited_by = account/<user>@<host>).
  (t) => [
    uniqueIndex("accounts_host_username").on(t.host, t.username),
    index("accounts_skeleton").on(t.skeleton, t.host),
    index("accounts_invited_by").on(t.host, t.invitedBy),
    // The console's registrations per day: a range of the last 30 days instead of a scan of every account.
    index("accounts_host_created").on(t.host, t.createdAt),
  ],
);
