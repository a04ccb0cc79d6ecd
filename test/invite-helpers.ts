// Helpers shared by the invite, registration and account tests (on top of helpers.ts).
import { Database } from "bun:sqlite";
import { cli, get, startServer, type Sandbox, type TestServer } from "./helpers.ts";

export interface CreatedInvite {
  url: string;
  token: string;
  id: string;
}

/** `invited invite create HOST ...` through the real CLI; returns the printed URL, its token and the invite id. */
export async function createInvite(sb: Sandbox, args: string[] = [], host = "example.com"): Promise<CreatedInvite> {
  const r = await cli(["invite", "create", host, ...args], { config: sb.config });
  if (r.code !== 0) throw new Error(`invite create failed (${r.code}): ${r.stderr}`);
  const url = r.stdout.trim();
  const token = url.slice(url.indexOf("?") + 1);
  const db = openDb(sb);
  try {
    const hash = new Bun.CryptoHasher("sha256").update(token).digest("hex");
    const row = db.query("SELECT id FROM invites WHERE token_hash = ?").get(hash) as { id: string };
    return { url, token, id: row.id };
  } finally {
    db.close();
  }
}

/** A read-only look at the sandbox's database, for assertions only. */
export function openDb(sb: Sandbox): Database {
  return new Database(sb.db, { readonly: true });
}

export function query<T>(sb: Sandbox, sql: string, ...params: (string | number | null)[]): T[] {
  const db = openDb(sb);
  try {
    return db.query(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

export function accountCount(sb: Sandbox, host = "example.com"): number {
  return query<{ n: number }>(sb, "SELECT count(*) AS n FROM accounts WHERE host = ?", host)[0]!.n;
}

export function inviteRow(sb: Sandbox, id: string): { uses: number; reserved: number; max_uses: number | null; revoked_at: number | null; expires_at: number } {
  return query<any>(sb, "SELECT * FROM invites WHERE id = ?", id)[0];
}

export function auditEvents(sb: Sandbox, type?: string): { type: string; user: string; host: string; details: string; source: string; ip: string | null }[] {
  return type ? query(sb, "SELECT * FROM audit_events WHERE type = ? ORDER BY id", type) : query(sb, "SELECT * FROM audit_events ORDER BY id");
}

/** POSTs the registration form the way a script would (no Origin / Sec-Fetch-Site). */
export function postForm(server: TestServer, fields: Record<string, string>, headers: Record<string, string> = {}, path = "/register"): Promise<Response> {
  return get(`${server.url}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields).toString(),
  });
}

export function register(server: TestServer, token: string, user: string, password: string, headers: Record<string, string> = {}): Promise<Response> {
  return postForm(server, { token, user, password }, headers);
}

/** Starts a server on an existing sandbox for the duration of `fn`. */
export async function withRunningServer<T>(sb: Sandbox, fn: (server: TestServer) => Promise<T>): Promise<T> {
  const server = await startServer(sb);
  try {
    return await fn(server);
  } finally {
    await server.stop();
  }
}

/** Makes an account the way a person would: an invite from the CLI, then the web form. */
export async function makeAccount(sb: Sandbox, server: TestServer, username: string, password = "correct horse battery"): Promise<void> {
  const { token } = await createInvite(sb);
  const r = await register(server, token, username, password);
  if (r.status !== 200) throw new Error(`registration of ${username} failed: ${r.status}`);
}
