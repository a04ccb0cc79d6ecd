import { sqliteTable, text, integer, index } from "drizzle-orm/sqlite-core";

/** API keys. The token is never stored: only its SHA-256 (the token has >=192 random bits, so a fast hash is enough). */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    host: text("host").notNull(),
    name: text("name"),
    tokenHash: text("token_hash").notNull(),
    // Rotation: the previous token keeps working until prev_expires_at.
    prevTokenHash: text("prev_token_hash"),
    prevExpiresAt: integer("prev_expires_at"),
    scopes: text("scopes").notNull().default('["invite:create"]'),
    expiresAt: integer("expires_at"),
    maxTtl: integer("max_ttl"),
    maxUses: integer("max_uses"),
    rate: text("rate"),
    disabled: integer("disabled").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at"),
    lastUsedIp: text("last_used_ip"),
  },
  (t) => [index("api_keys_host").on(t.host)],
);
