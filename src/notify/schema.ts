import { sqliteTable, text, integer, index } from "drizzle-orm/sqlite-core";

/**
 * Outbox of notification webhooks: one row per (event, endpoint), written in the same transaction as the event.
 * The delivery worker sends due rows and reschedules failures (exponential backoff with jitter).
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    messageId: text("message_id").notNull(), // webhook-id header: the same on every attempt
    endpointUrl: text("endpoint_url").notNull(),
    eventType: text("event_type").notNull(),
    payload: text("payload").notNull(), // JSON; ids, host, username and times only
    status: text("status").notNull().default("pending"), // pending | delivered | failed
    attempts: integer("attempts").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    nextAttemptAt: integer("next_attempt_at").notNull(),
    lastAttemptAt: integer("last_attempt_at"),
    lastStatus: integer("last_status"), // HTTP status of the last attempt
    lastError: text("last_error"), // short reason code of the last failure
    deliveredAt: integer("delivered_at"),
  },
  (t) => [index("webhook_deliveries_status_next").on(t.status, t.nextAttemptAt)],
);

/** Per-endpoint state that must survive a restart: an endpoint that answered 410 Gone stays disabled. */
export const webhookEndpoints = sqliteTable("webhook_endpoints", {
  url: text("url").primaryKey(),
  disabledAt: integer("disabled_at"),
  disabledReason: text("disabled_reason"),
});
