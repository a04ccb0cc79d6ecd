// `[[notify]]`: outgoing notification webhooks.
import { Section, httpUrl, isTable, readSecrets } from "./section.ts";
import type { HostConfig } from "./hosts.ts";

/** Events an outgoing notification can subscribe to. */
export const NOTIFY_EVENTS = ["invite.created", "invite.used", "invite.revoked", "account.created", "account.deleted", "key.created", "key.deleted"] as const;

export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** One `[[notify]]` endpoint. */
export interface NotifyEndpoint {
  url: string;
  secrets: string[];
  events: NotifyEvent[];
  /** Only events of these hosts; null: every host. */
  hosts: string[] | null;
  timeout: number;
  /** Delay before the first retry; it doubles per attempt (with jitter), up to 6 hours. */
  retryDelay: number;
  maxAttempts: number;
}

/** `[[notify]]`: outgoing notification webhooks. */
export function readNotify(root: Section, hosts: Record<string, HostConfig>): NotifyEndpoint[] {
  const v = root.raw_("notify");
  if (v === undefined) return [];
  if (!Array.isArray(v)) root.fail("notify", "must be an array of tables ([[notify]])");
  const seen = new Set<string>();
  return v.map((item, i) => {
    if (!isTable(item)) root.fail(`notify[${i}]`, "must be a table");
    const n: Section = new Section(item, `notify[${i}]`, root.where);
    const rawUrl = n.optionalString("url");
    if (!rawUrl) n.fail("url", "is required");
    const url = httpUrl(n, "url", rawUrl);
    if (seen.has(url)) n.fail("url", "is configured twice");
    seen.add(url);
    const secrets = readSecrets(n);
    if (secrets.length === 0) n.fail("secret", "is required");
    const events = n.stringList("events", [...NOTIFY_EVENTS]);
    for (const e of events) {
      if (!(NOTIFY_EVENTS as readonly string[]).includes(e)) n.fail("events", `has an unknown event ${JSON.stringify(e)} (known: ${NOTIFY_EVENTS.join(", ")})`);
    }
    const hostList = n.raw_("hosts") === undefined ? null : n.stringList("hosts", []);
    for (const h of hostList ?? []) if (!Object.hasOwn(hosts, h)) n.fail("hosts", `names a host that is not configured: ${JSON.stringify(h)}`);
    const endpoint: NotifyEndpoint = {
      url,
      secrets,
      events: [...new Set(events)] as NotifyEvent[],
      hosts: hostList,
      timeout: n.duration("timeout", "10s"),
      retryDelay: n.duration("retry_delay", "30s"),
      maxAttempts: n.int("max_attempts", 12, 1, 100),
    };
    if (endpoint.timeout < 100 || endpoint.timeout > 600_000) n.fail("timeout", "must be between 100ms and 10m");
    if (endpoint.retryDelay > 6 * 3_600_000) n.fail("retry_delay", "must be at most 6h");
    n.done();
    return endpoint;
  });
}
