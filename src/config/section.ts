// The config reader shared by every section: a TOML table read against its known keys, and the value checks that
// several sections use. Knows no section and no feature.
import { readFileSync } from "node:fs";
import { parseDuration } from "../lib/duration.ts";
import { webhookSecretProblem } from "../lib/webhooks.ts";
import { type Rate, parseRate } from "../limits/rate.ts";
import { LANGUAGES, type Lang, isLang } from "../i18n/catalogs.ts";

/** The process environment as buildConfig reads it. */
export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {}

export type Table = Record<string, unknown>;

/** While knownSettings() runs: told the path of every key the parser reads. */
let settingRead: ((path: string) => void) | null = null;

/** knownSettings() listens here while it reads its sample configs; null stops it. */
export function onSettingRead(listener: ((path: string) => void) | null): void {
  settingRead = listener;
}

/** Reads one TOML table against a fixed set of keys; every failure names the key path and the file. */
export class Section {
  private seen = new Set<string>();
  constructor(
    private readonly table: Table,
    private readonly path: string,
    readonly where: string,
  ) {}

  fail(key: string, message: string): never {
    const name = this.path ? `${this.path}.${key}` : key;
    throw new ConfigError(`${this.where}: '${name}' ${message}`);
  }
  private raw(key: string): unknown {
    this.seen.add(key);
    settingRead?.(this.sub(key));
    return this.table[key];
  }
  string(key: string, fallback: string): string {
    const v = this.raw(key);
    if (v === undefined) return fallback;
    if (typeof v !== "string") this.fail(key, `must be a string, got ${describe(v)}`);
    return v;
  }
  optionalString(key: string): string | null {
    const v = this.raw(key);
    if (v === undefined) return null;
    if (typeof v !== "string" || v === "") this.fail(key, `must be a non-empty string, got ${describe(v)}`);
    return v;
  }
  bool(key: string, fallback: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") this.fail(key, `must be true or false, got ${describe(v)}`);
    return v;
  }
  int(key: string, fallback: number, min: number, max: number): number {
    const v = this.optionalInt(key, min, max);
    return v ?? fallback;
  }
  optionalInt(key: string, min: number, max: number): number | null {
    const v = this.raw(key);
    if (v === undefined) return null;
    const n = typeof v === "bigint" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n)) this.fail(key, `must be an integer, got ${describe(v)}`);
    if (n < min || n > max) this.fail(key, `must be between ${min} and ${max}, got ${n}`);
    return n;
  }
  duration(key: string, fallback: string): number {
    const v = this.raw(key);
    const text = v === undefined ? fallback : v;
    if (typeof text !== "string") this.fail(key, `must be a duration string like "7d", got ${describe(v)}`);
    const ms = parseDuration(text);
    if (ms === null) this.fail(key, `is not a valid duration: ${JSON.stringify(text)} (use e.g. "90s", "15m", "24h", "7d")`);
    return ms;
  }
  stringList(key: string, fallback: string[]): string[] {
    const v = this.raw(key);
    if (v === undefined) return fallback;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) this.fail(key, `must be a list of strings`);
    return v as string[];
  }
  table_(key: string): Section {
    const v = this.raw(key);
    if (v === undefined) return new Section({}, this.sub(key), this.where);
    if (!isTable(v)) this.fail(key, `must be a table, got ${describe(v)}`);
    return new Section(v, this.sub(key), this.where);
  }
  raw_(key: string): unknown {
    return this.raw(key);
  }
  keys(): string[] {
    return Object.keys(this.table);
  }
  sub(key: string): string {
    const k = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
    return this.path ? `${this.path}.${k}` : k;
  }
  /** Call after reading every known key: anything left is a typo or an unsupported setting. */
  done(): void {
    for (const key of Object.keys(this.table)) {
      if (!this.seen.has(key)) this.fail(key, "is not a known setting");
    }
  }
}

export function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

export function describe(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (isTable(v)) return "a table";
  return `${typeof v} ${JSON.stringify(typeof v === "bigint" ? Number(v) : v)}`;
}

export function path_(s: Section, key: string, fallback: string): string {
  const v = s.string(key, fallback);
  if (!/^\/[A-Za-z0-9._~\/-]*$/.test(v) || v.includes("//")) s.fail(key, `must be an absolute URL path like "/invite", got ${JSON.stringify(v)}`);
  return v.length > 1 ? v.replace(/\/$/, "") : v;
}

export function language(s: Section, key: string, value: string): Lang {
  if (!isLang(value)) s.fail(key, `has an unknown language ${JSON.stringify(value)} (known: ${LANGUAGES.join(", ")})`);
  return value;
}

/** A duration that may be "0s" (off). */
export function durationOrZero(s: Section, key: string): number {
  const v = s.raw_(key);
  if (v === undefined) return 0;
  const ms = typeof v === "string" ? parseDuration(v, { allowZero: true }) : null;
  if (ms === null) s.fail(key, `is not a valid duration: ${JSON.stringify(v)} (use e.g. "0s", "24h", "7d")`);
  return ms;
}

/** An optional one-line text shown on pages: at most `max` characters, no control characters. */
export function shortText(s: Section, key: string, max: number): string | null {
  const v = s.optionalString(key);
  if (v !== null && (v.length > max || /\p{C}/u.test(v))) s.fail(key, `must be at most ${max} characters without control characters`);
  return v;
}

export function optionalHttpUrl(s: Section, key: string): string | null {
  const v = s.optionalString(key);
  return v === null ? null : httpUrl(s, key, v);
}

export function readSecrets(s: Section): string[] {
  const raw = s.raw_("secret");
  let secrets: string[] = [];
  if (typeof raw === "string") secrets = [raw];
  else if (Array.isArray(raw) && raw.length > 0 && raw.every((x) => typeof x === "string")) secrets = raw as string[];
  else if (raw !== undefined) s.fail("secret", "must be a string or a non-empty list of strings");
  for (const sec of secrets) {
    const problem = webhookSecretProblem(sec);
    if (problem) s.fail("secret", problem);
  }
  return secrets;
}

export function httpUrl(s: Section, key: string, value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    return u.href;
  } catch {
    s.fail(key, `must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
}

/** A secret kept in a file of its own (mode 0600, readable by invited only), read once at start-up. */
export function secretFile(s: Section, key: string): string {
  const file = s.optionalString(key);
  if (file === null) s.fail(key, "is required");
  if (settingRead) return "sample"; // knownSettings: the key is what counts, not the file
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    s.fail(key, `cannot read ${JSON.stringify(file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const secret = text.replace(/\r?\n$/, "");
  if (!secret) s.fail(key, `names an empty file (${JSON.stringify(file)})`);
  return secret;
}

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** A rate like "5/hour", or "off" for none. */
export function readRate(s: Section, key: string, fallback: string): Rate | null {
  const text = s.string(key, fallback);
  if (text === "off") return null;
  const rate = parseRate(text);
  if (rate === null) s.fail(key, `must be a rate like "5/hour" (N/sec, N/min, N/hour or N/day) or "off", got ${JSON.stringify(text)}`);
  return rate;
}

/** `ADDRESS:PORT` (IPv6 in brackets); null when it is not one. */
export function parseListen(value: string): { hostname: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { hostname: (m[1] ?? m[2])!, port };
}
