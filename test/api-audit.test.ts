import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { ALL_SCOPES, call, createKeyWith, scopeArgs } from "./api-helpers.ts";

let sb: Sandbox;
let server: TestServer;
let key: string;
let otherKey: string;

beforeAll(async () => {
  sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."other.org"]\npublic_url = "https://other.org"\n[limits]\nauth_failures = 0\n`);
  server = await startServer(sb);
  key = await createKeyWith(sb, scopeArgs(ALL_SCOPES));
  otherKey = await createKeyWith(sb, scopeArgs(ALL_SCOPES), "other.org");
  // Some history on both hosts.
  for (let i = 0; i < 5; i++) await call(server.url, "POST", "/api/v1/invites", { key, body: { note: `a${i}` } });
  const inv = (await call(server.url, "POST", "/api/v1/invites", { key, body: {} })).body;
  await call(server.url, "POST", "/api/v1/invites/redeem", { key, body: { token: inv.token, username: "judy" } });
  await call(server.url, "POST", "/api/v1/invites", { key: otherKey, body: { note: "other" } });
});
afterAll(async () => {
  await server.stop();
  sb.cleanup();
});

const audit = (q: string, k = key) => call(server.url, "GET", `/api/v1/audit${q}`, { key: k });

describe("GET /api/v1/audit", () => {
  test("lists the key's host only, newest first, never another host's or server-wide events", async () => {
    const r = await audit("?limit=1000");
    expect(r.status).toBe(200);
    const evs = r.body.events as { id: number; at: string; host: string; type: string }[];
    expect(evs.length).toBeGreaterThanOrEqual(8);
    expect(evs.every((e) => e.host === "example.com")).toBe(true);
    expect(evs.map((e) => e.type)).toContain("key.created");
    expect(evs.map((e) => e.type)).not.toContain("server.started");
    for (let i = 1; i < evs.length; i++) expect(Date.parse(evs[i - 1]!.at)).toBeGreaterThanOrEqual(Date.parse(evs[i]!.at));
    const other = await audit("?limit=1000", otherKey);
    expect(other.body.events.every((e: { host: string }) => e.host === "other.org")).toBe(true);
    expect(JSON.stringify(other.body)).not.toContain("judy");
  });

  test("filters: type, type family, user, global, since", async () => {
    const created = (await audit("?type=invite.created&limit=1000")).body.events;
    expect(created.length).toBe(6);
    expect(created.every((e: { type: string }) => e.type === "invite.created")).toBe(true);
    const family = (await audit("?type=invite.*&limit=1000")).body.events.map((e: { type: string }) => e.type);
    expect(new Set(family)).toEqual(new Set(["invite.created", "invite.used"]));
    const judy = (await audit("?user=Judy")).body.events;
    expect(judy.map((e: { type: string; user: string }) => `${e.type} ${e.user}`)).toEqual(["invite.used judy"]);
    const global = (await audit("?global=true&limit=1000")).body.events;
    expect(global.every((e: { user: string }) => e.user === "")).toBe(true);
    const personal = (await audit("?global=false&limit=1000")).body.events;
    expect(personal.every((e: { user: string }) => e.user !== "")).toBe(true);
    expect(personal.length).toBe(1);
    const future = (await audit(`?since=${new Date(Date.now() + 60_000).toISOString()}`)).body;
    expect(future).toEqual({ events: [], next: null });
    const used = (await audit("?type=invite.used")).body.events[0];
    expect(used.source).toBe("api");
    expect(used.actor).toBe(key.split("/")[0]);
    expect(used.ip).toBe("127.0.0.1");
    expect(used.details.downstream).toBe(true);
  });

  test("pages with ?before=<next> without gaps or repeats", async () => {
    const all = (await audit("?limit=1000")).body.events.map((e: { id: number }) => e.id);
    const paged: number[] = [];
    let before: number | null = null;
    do {
      const page: { body: { events: { id: number }[]; next: number | null } } = await audit(`?limit=3${before ? `&before=${before}` : ""}`);
      paged.push(...page.body.events.map((e) => e.id));
      before = page.body.next;
    } while (before);
    expect(paged).toEqual(all);
  });

  test("secrets never appear in the audit answer", async () => {
    const text = (await audit("?limit=1000")).text;
    expect(text).not.toContain(key.split("/")[1]!);
    expect(text).not.toMatch(/token_hash|preauth=/);
  });
});
