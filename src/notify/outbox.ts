import { sql } from "drizzle-orm";
import type { AppContext } from "../context.ts";
import type { NotifyEvent } from "../config/index.ts";
import { perDb } from "../db/index.ts";
import { newMessageId } from "../lib/webhooks.ts";
import { webhookDeliveries } from "./schema.ts";

/** Audit event types that are also notifications, and the notification's name. */
const NOTIFICATION_FOR: Partial<Record<string, NotifyEvent>> = {
  "invite.created": "invite.created",
  "invite.used": "invite.used",
  "invite.revoked": "invite.revoked",
  "account.registered": "account.created",
  "account.deleted": "account.deleted",
  "key.created": "key.created",
  "key.deleted": "key.deleted",
};

/** Detail keys copied into a payload: identifiers and times only, never a token, hash or password. */
const DATA_KEYS = ["invite_id", "key_id", "kind"] as const;

export interface OutboxEvent {
  type: string;
  host?: string;
  user?: string;
  details?: Record<string, unknown>;
}

/**
 * The thin payload: `{type, timestamp, data: {host, username?, invite_id?, key_id?, kind?, expires_at?, invited_by?,
 * created_by?}}`. invited_by / created_by appear when a member made the invite (`account/<user>@<host>`), so a
 * receiver can follow the invite tree; invites of the CLI and keys leave them out.
 */
export function notificationPayload(type: NotifyEvent, event: OutboxEvent, at: number): string {
  const data: Record<string, unknown> = { host: event.host ?? "" };
  if (event.user) data.username = event.user;
  for (const key of DATA_KEYS) {
    const v = event.details?.[key];
    if (typeof v === "string" || typeof v === "number") data[key] = v;
  }
  for (const key of ["invited_by", "created_by"] as const) {
    const v = event.details?.[key];
    if (typeof v === "string" && v.startsWith("account/")) data[key] = v;
  }
  const expires = event.details?.expires_at;
  if (typeof expires === "number") data.expires_at = new Date(expires).toISOString();
  return JSON.stringify({ type, timestamp: new Date(at).toISOString(), data });
}

let wake: (() => void) | null = null;
/** The delivery worker registers here to hear about new rows at once instead of at its next poll. */
export function onOutboxWrite(listener: (() => void) | null): void {
  wake = listener;
}

/**
 * Called by recordEvent inside the caller's write job: one outbox row per endpoint that subscribes to the event, so
 * a notification exists exactly when its change committed. Only touches the database (jobs may be replayed); the
 * wake-up just schedules the worker, which then finds the committed rows.
 */
export function enqueueNotificationsTx(ctx: AppContext, event: OutboxEvent, at: number): void {
  const endpoints = ctx.config.notify;
  if (endpoints.length === 0) return;
  const type = NOTIFICATION_FOR[event.type];
  if (!type) return;
  let payload: string | null = null;
  for (const ep of endpoints) {
    if (!ep.events.includes(type)) continue;
    if (ep.hosts && !ep.hosts.includes(event.host ?? "")) continue;
    payload ??= notificationPayload(type, event, at);
    insertDelivery(ctx.db).run({ messageId: newMessageId(), endpointUrl: ep.url, eventType: type, payload, createdAt: at, nextAttemptAt: at });
  }
  if (payload !== null && wake) setTimeout(wake, 0);
}

const insertDelivery = perDb((db) => {
  const p = (n: string) => sql.placeholder(n);
  return db.orm
    .insert(webhookDeliveries)
    .values({ messageId: p("messageId"), endpointUrl: p("endpointUrl"), eventType: p("eventType"), payload: p("payload"), createdAt: p("createdAt"), nextAttemptAt: p("nextAttemptAt") })
    .prepare();
});
