import { Webhook } from "standardwebhooks";
import { randomId } from "./tokens.ts";

/**
 * Standard Webhooks signing, shared by the webhook provider and outgoing notifications. With several secrets the
 * message is signed with each and the signatures are space-separated, so a receiver that knows any one of them
 * verifies it: that is how a secret is rotated without a gap.
 */
export function signedHeaders(secrets: readonly string[], messageId: string, body: string, at = new Date()): Record<string, string> {
  const signatures = secrets.map((s) => new Webhook(s).sign(messageId, at, body));
  return {
    "Content-Type": "application/json",
    "User-Agent": "invited",
    "webhook-id": messageId,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": signatures.join(" "),
  };
}

/** A fresh webhook-id: `msg_` + 22 random URL-safe characters (132 bits). */
export function newMessageId(): string {
  return `msg_${randomId(22)}`;
}

/** Why a `whsec_` secret is unusable, or null. Standard Webhooks secrets are base64 after the prefix. */
export function webhookSecretProblem(secret: string): string | null {
  if (!secret.startsWith("whsec_")) return "must be in whsec_ form (whsec_ followed by base64)";
  const body = secret.slice(6);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return "must be whsec_ followed by base64";
  if (Buffer.from(body, "base64").length < 16) return "is too short: use at least 16 random bytes (e.g. whsec_$(openssl rand -base64 32))";
  try {
    new Webhook(secret);
  } catch {
    return "must be whsec_ followed by base64";
  }
  return null;
}

/** An endpoint URL for logs and audit details: the query (which may hold a credential) is cut off. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}${u.search ? "?…" : ""}`;
  } catch {
    return "(invalid URL)";
  }
}
