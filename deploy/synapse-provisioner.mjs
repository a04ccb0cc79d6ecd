#!/usr/bin/env node
// invited -> Matrix Synapse: a webhook receiver for invited's webhook provider that calls Synapse's admin API.
// No dependencies: runs on Node 18+ or Bun. See docs/provisioning/synapse.md.
//
//   INVITED_WEBHOOK_SECRET_FILE  file holding the whsec_... secret from invited's [hosts."NAME".provision] secret
//   SYNAPSE_ADMIN_TOKEN_FILE     file holding an access token of a Synapse server admin
//   SYNAPSE_URL                  Synapse's client-server base URL, default http://127.0.0.1:8008
//   SYNAPSE_SERVER_NAME          the Matrix server_name, default: the invite's host
//   LISTEN                       host:port to listen on, default 127.0.0.1:8090 (keep it on loopback)
//
// Requests (each signed per Standard Webhooks; anything unsigned, tampered or older than 5 minutes is 401):
//   account.created         -> create the user with the password (409 if the Matrix ID exists)
//   account.password_reset  -> POST /_synapse/admin/v1/reset_password (logs out other devices)
//   provision.disable       -> lock the user (Synapse 1.91+: "locked": true; sign-in refused, reversible)
//   provision.enable        -> unlock
//   provision.delete        -> deactivate with erase (Matrix has no true deletion; the ID stays reserved)
// The answer mirrors Synapse's: 2xx done, 409 taken, anything else a failure that invited reports.
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const env = process.env;
const readSecret = (name) => {
  const file = env[name];
  if (!file) throw new Error(`${name} is required`);
  return readFileSync(file, "utf8").trim();
};
const secret = readSecret("INVITED_WEBHOOK_SECRET_FILE");
if (!secret.startsWith("whsec_")) throw new Error("the webhook secret must be in whsec_ form");
const key = Buffer.from(secret.slice(6), "base64");
const adminToken = readSecret("SYNAPSE_ADMIN_TOKEN_FILE");
const synapse = (env.SYNAPSE_URL ?? "http://127.0.0.1:8008").replace(/\/+$/, "");
const [listenHost, listenPort] = (env.LISTEN ?? "127.0.0.1:8090").split(/:(?=\d+$)/);
const TOLERANCE_S = 5 * 60;
const seen = new Map(); // webhook-id -> time, to drop a replayed delivery within the tolerance window

/** Standard Webhooks: base64 HMAC-SHA256 of "id.timestamp.body"; any of the space-separated v1 signatures. */
function verified(headers, body) {
  const id = headers["webhook-id"];
  const ts = Number(headers["webhook-timestamp"]);
  const sigs = String(headers["webhook-signature"] ?? "").split(" ");
  if (!id || !Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > TOLERANCE_S) return false;
  const expected = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest();
  return sigs.some((s) => {
    const [version, value] = s.split(",");
    if (version !== "v1" || !value) return false;
    const got = Buffer.from(value, "base64");
    return got.length === expected.length && timingSafeEqual(got, expected);
  });
}

async function admin(method, path, body) {
  const res = await fetch(`${synapse}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(8000),
  });
  const text = await res.text();
  return { status: res.status, text };
}

async function handle(event) {
  const userId = `@${event.username}:${env.SYNAPSE_SERVER_NAME ?? event.host}`;
  const user = `/_synapse/admin/v2/users/${encodeURIComponent(userId)}`;
  switch (event.type) {
    case "account.created": {
      const existing = await admin("GET", user);
      if (existing.status === 200) return { status: 409, text: `${userId} exists` };
      if (existing.status !== 404) return existing;
      return admin("PUT", user, { password: event.password, admin: false, displayname: event.username });
    }
    case "account.password_reset":
      return admin("POST", `/_synapse/admin/v1/reset_password/${encodeURIComponent(userId)}`, { new_password: event.password, logout_devices: true });
    case "provision.disable":
      return admin("PUT", user, { locked: true });
    case "provision.enable":
      return admin("PUT", user, { locked: false });
    case "provision.delete": {
      const r = await admin("POST", `/_synapse/admin/v1/deactivate/${encodeURIComponent(userId)}`, { erase: true });
      return r.status === 404 ? { status: 200, text: "already gone" } : r; // deleting what is not there is done
    }
    default:
      return { status: 400, text: `unknown request type ${JSON.stringify(event.type)}` };
  }
}

createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on("data", (c) => {
    size += c.length;
    if (size > 65536) req.destroy();
    else chunks.push(c);
  });
  req.on("end", async () => {
    const answer = (status, text) => {
      res.writeHead(status, { "content-type": "text/plain" });
      res.end(text);
    };
    const body = Buffer.concat(chunks).toString("utf8");
    if (req.method !== "POST" || !verified(req.headers, body)) return answer(401, "bad signature");
    const id = req.headers["webhook-id"];
    const now = Date.now();
    for (const [k, t] of seen) if (now - t > 2 * TOLERANCE_S * 1000) seen.delete(k);
    if (seen.has(id)) return answer(409, "replayed delivery");
    seen.set(id, now);
    let event;
    try {
      event = JSON.parse(body);
    } catch {
      return answer(400, "bad JSON");
    }
    try {
      const r = await handle(event);
      // Synapse's own error text goes back to invited's log; never the request body (it holds the password).
      const status = r.status >= 200 && r.status < 300 ? 204 : r.status === 409 ? 409 : r.status >= 400 && r.status < 500 ? 422 : 502;
      console.log(`${event.type} ${event.username}@${event.host}: Synapse ${r.status}`);
      answer(status, status === 204 ? "" : r.text.slice(0, 500));
    } catch (e) {
      console.log(`${event.type} ${event.username}@${event.host}: Synapse unreachable: ${e.message}`);
      answer(502, `Synapse unreachable: ${e.message}`);
    }
  });
}).listen(Number(listenPort), listenHost, () => console.log(`invited -> Synapse provisioner on ${listenHost}:${listenPort}, Synapse at ${synapse}`));
