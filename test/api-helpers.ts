// Client for /api/v1 tests: every response goes through `call()`, which checks it against the server's own OpenAPI
// document (the schema of that route, method and status) before the test sees it. So every response any api test
// sees is proof that the published schema is right.
import { expect } from "bun:test";
import { cli, type Sandbox } from "./helpers.ts";

type Json = any;

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: Json;
  text: string;
}

const documents = new Map<string, Json>();

export async function openApiDocument(baseUrl: string): Promise<Json> {
  let doc = documents.get(baseUrl);
  if (!doc) {
    const r = await fetch(`${baseUrl}/api/v1/openapi.json`);
    expect(r.status).toBe(200);
    doc = await r.json();
    documents.set(baseUrl, doc);
  }
  return doc;
}

/** The document's path template for a concrete path, e.g. /api/v1/invites/abc → /api/v1/invites/{id}. */
export function routeTemplate(doc: Json, path: string, method: string): string | null {
  const bare = path.split("?")[0]!;
  const candidates = Object.keys(doc.paths).filter((p) => new RegExp(`^${p.replace(/\{[^}]+\}/g, "[^/]+")}$`).test(bare));
  // Prefer literal matches (/invites/redeem) over templated ones (/invites/{id}).
  candidates.sort((a, b) => (a.includes("{") ? 1 : 0) - (b.includes("{") ? 1 : 0));
  return candidates.find((p) => doc.paths[p][method.toLowerCase()]) ?? null;
}

const ERROR_SHAPE = {
  type: "object",
  required: ["error"],
  properties: { error: { type: "object", required: ["code", "message"], properties: { code: { type: "string", pattern: "^[a-z_]+$" }, message: { type: "string" } } } },
};

export interface CallOptions {
  key?: string;
  body?: unknown;
  rawBody?: Bun.BodyInit;
  headers?: Record<string, string>;
  /** Client address, sent as X-Forwarded-For (127.0.0.1 is a trusted proxy by default). */
  ip?: string;
}

/** Calls the API and checks the answer against the OpenAPI document. Never a 5xx. */
export async function call(baseUrl: string, method: string, path: string, opts: CallOptions = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.key) headers.Authorization = `Bearer ${opts.key}`;
  if (opts.ip) headers["X-Forwarded-For"] = opts.ip;
  let body: Bun.BodyInit | undefined = opts.rawBody;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["Content-Type"] ??= "application/json";
  }
  const r = await fetch(`${baseUrl}${path}`, { method, headers, body, redirect: "manual" });
  const text = await r.text();
  const res: ApiResponse = { status: r.status, headers: r.headers, text, body: undefined };
  expect(`${method} ${path} -> ${r.status}`).not.toMatch(/-> 5\d\d$/);
  if (method === "HEAD") return res;
  expect(r.headers.get("content-type") ?? "").toMatch(/^application\/json/);
  res.body = JSON.parse(text);
  expect(r.headers.get("access-control-allow-origin")).toBe("*");
  expect(r.headers.get("cache-control")).toBe("no-store");

  const doc = await openApiDocument(baseUrl);
  const template = routeTemplate(doc, path, method);
  if (r.status >= 400) expectValid(res.body, ERROR_SHAPE, doc, `${method} ${path} ${r.status}`);
  if (template === null) {
    // Not a documented operation: only the generic errors may come back.
    expect([404, 405]).toContain(r.status);
    return res;
  }
  const response = doc.paths[template][method.toLowerCase()].responses[String(r.status)];
  if (!response) throw new Error(`${method} ${template} answered ${r.status}, which the OpenAPI document does not list: ${text}`);
  expectValid(res.body, response.content["application/json"].schema, doc, `${method} ${path} ${r.status}`);
  return res;
}

export function expectValid(value: unknown, schema: Json, doc: Json, where: string): void {
  const problems: string[] = [];
  check(value, schema, doc, "$", problems);
  if (problems.length) throw new Error(`${where}: response does not match the OpenAPI schema:\n  ${problems.join("\n  ")}\n${JSON.stringify(value)}`);
}

/** The JSON Schema (2020-12 / OpenAPI 3.1) keywords the document uses. Unknown keywords are ignored, as the spec says. */
function check(v: unknown, s: Json, doc: Json, at: string, out: string[]): void {
  if (s === true || s === undefined) return;
  if (s === false) return void out.push(`${at}: no value allowed`);
  if (s.$ref) return check(v, resolveRef(doc, s.$ref), doc, at, out);
  if (s.anyOf) {
    const ok = (s.anyOf as Json[]).some((sub) => {
      const p: string[] = [];
      check(v, sub, doc, at, p);
      return p.length === 0;
    });
    if (!ok) out.push(`${at}: matches none of anyOf`);
  }
  if (s.oneOf) {
    const n = (s.oneOf as Json[]).filter((sub) => {
      const p: string[] = [];
      check(v, sub, doc, at, p);
      return p.length === 0;
    }).length;
    if (n !== 1) out.push(`${at}: matches ${n} of oneOf`);
  }
  if (s.allOf) for (const sub of s.allOf) check(v, sub, doc, at, out);
  if ("const" in s && JSON.stringify(v) !== JSON.stringify(s.const)) out.push(`${at}: expected ${JSON.stringify(s.const)}`);
  if (s.enum && !(s.enum as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(v))) out.push(`${at}: ${JSON.stringify(v)} not in enum`);
  if (s.type !== undefined) {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => isType(v, t))) return void out.push(`${at}: expected ${types.join("|")}, got ${JSON.stringify(v)}`);
  }
  if (typeof v === "string") {
    if (s.minLength !== undefined && [...v].length < s.minLength) out.push(`${at}: shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && [...v].length > s.maxLength) out.push(`${at}: longer than ${s.maxLength}`);
    if (s.pattern && !new RegExp(s.pattern, "u").test(v)) out.push(`${at}: does not match ${s.pattern}`);
    if (s.format === "date-time" && (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v) || Number.isNaN(Date.parse(v))))
      out.push(`${at}: not a date-time`);
  }
  if (typeof v === "number") {
    if (s.minimum !== undefined && v < s.minimum) out.push(`${at}: below ${s.minimum}`);
    if (s.maximum !== undefined && v > s.maximum) out.push(`${at}: above ${s.maximum}`);
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) out.push(`${at}: fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && v.length > s.maxItems) out.push(`${at}: more than ${s.maxItems} items`);
    if (s.items) v.forEach((item, i) => check(item, s.items, doc, `${at}[${i}]`, out));
  }
  if (v !== null && typeof v === "object" && !Array.isArray(v)) {
    const obj = v as Record<string, unknown>;
    for (const req of (s.required ?? []) as string[]) if (!(req in obj)) out.push(`${at}: missing ${req}`);
    const props = (s.properties ?? {}) as Json;
    for (const [k, val] of Object.entries(obj)) {
      if (k in props) check(val, props[k], doc, `${at}.${k}`, out);
      else {
        const pat = Object.entries((s.patternProperties ?? {}) as Json).find(([p]) => new RegExp(p, "u").test(k));
        if (pat) check(val, pat[1], doc, `${at}.${k}`, out);
        else if (s.additionalProperties === false) out.push(`${at}: unexpected property ${k}`);
        else if (typeof s.additionalProperties === "object") check(val, s.additionalProperties, doc, `${at}.${k}`, out);
      }
    }
  }
}

function isType(v: unknown, t: string): boolean {
  switch (t) {
    case "null":
      return v === null;
    case "integer":
      return Number.isInteger(v);
    case "number":
      return typeof v === "number";
    case "array":
      return Array.isArray(v);
    case "object":
      return v !== null && typeof v === "object" && !Array.isArray(v);
    default:
      return typeof v === t;
  }
}

function resolveRef(doc: Json, ref: string): Json {
  if (!ref.startsWith("#/")) throw new Error(`external $ref ${ref}`);
  return ref
    .slice(2)
    .split("/")
    .reduce((node: Json, part) => node?.[part.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
}

export const ALL_SCOPES = ["invite:create", "invite:create:reset", "invite:create:group", "invite:list", "invite:revoke", "invite:redeem", "invite:xmpp", "audit:read", "account:manage"];

/** `invited key create` with options; returns ID/TOKEN. */
export async function createKeyWith(sb: Sandbox, options: string[] = [], host = "example.com"): Promise<string> {
  const r = await cli(["key", "create", host, "test", ...options], { config: sb.config });
  if (r.code !== 0) throw new Error(`key create failed: ${r.stderr}`);
  return r.stdout.trim();
}

export function scopeArgs(scopes: string[]): string[] {
  return scopes.flatMap((s) => ["--scope", s]);
}
