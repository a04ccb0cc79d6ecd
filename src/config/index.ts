import { parse as parseToml } from "smol-toml";
import { readFileSync, statSync } from "node:fs";
import { BUILTIN_LOGOS, LOGO_TYPES } from "../pages/logos.ts";
import { parseDuration } from "../lib/duration.ts";
import { parseAddressList } from "../lib/ip.ts";
import { webhookSecretProblem } from "../lib/webhooks.ts";

export interface ClientApp {
  name: string;
  platforms: string[];
  url: string;
  logo?: string;
}

export interface ProvisionConfig {
  type: "none" | "webhook" | "command";
  url?: string;
  secrets: string[];
  command?: string[];
  /** Command provider: argv that sets a new password (password resets); without it resets are refused. */
  resetCommand?: string[];
  stdin: string;
  timeout: number;
  keepPassword: boolean;
  /** Command provider: the exit status that means "this name is taken downstream" (like a webhook's 409). */
  takenExitCode: number | null;
}

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

export interface HostConfig {
  name: string;
  publicUrl: string; // origin without trailing slash
  invitePath: string;
  registerPath: string;
  inviteTtl: number;
  inviteMaxTtl: number;
  resetTtl: number;
  usernameMaxLength: number;
  passwordMinLength: number;
  apps: ClientApp[] | null; // null: the built-in XMPP client list
  provision: ProvisionConfig;
  /** Roles of an invite that mod_invited may hand to Prosody's roles store (never prosody:admin). */
  prosodyRoles: string[];
  /**
   * Whether apps may register in-band with invited's tokens (the app button, the Link header, xmpp_uri): "auto"
   * offers it while the host's Prosody (mod_invited) has reported in within the last day.
   */
  appRegistration: "auto" | boolean;
}

export interface Config {
  file: string | null;
  server: {
    hostname: string;
    port: number;
    trustedProxies: string[];
    invitesApiPath: string;
    shutdownTimeout: number;
    maxBodySize: number;
    idleTimeout: number;
    requestLog: boolean;
    metricsAllow: string[];
  };
  database: { path: string; busyTimeout: number };
  audit: {
    enabled: boolean;
    ips: boolean;
    ipv4Prefix: number | null;
    ipv6Prefix: number | null;
    location: boolean;
    geoipDatabase: string | null;
    geoipCheckInterval: number;
    expiresAfter: number;
    maxRows: number | null;
    pruneInterval: number;
  };
  limits: {
    authFailures: number;
    authWindow: number;
    authFailureWindow: number;
    lockout: number;
    ipv4Prefix: number;
    ipv6Prefix: number;
  };
  hosts: Record<string, HostConfig>;
  notify: NotifyEndpoint[];
}

export class ConfigError extends Error {}

type Table = Record<string, unknown>;

/** Reads one TOML table against a fixed set of keys; every failure names the key path and the file. */
class Section {
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

function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}
function describe(v: unknown): string {
  if (Array.isArray(v)) return "a list";
  if (isTable(v)) return "a table";
  return `${typeof v} ${JSON.stringify(typeof v === "bigint" ? Number(v) : v)}`;
}

const HOSTNAME_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function parseListen(value: string): { hostname: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(value.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { hostname: (m[1] ?? m[2])!, port };
}

function path_(s: Section, key: string, fallback: string): string {
  const v = s.string(key, fallback);
  if (!/^\/[A-Za-z0-9._~\/-]*$/.test(v) || v.includes("//")) s.fail(key, `must be an absolute URL path like "/invite", got ${JSON.stringify(v)}`);
  return v.length > 1 ? v.replace(/\/$/, "") : v;
}

function readHost(name: string, s: Section): HostConfig {
  const publicUrl = s.string("public_url", `http://${name}`);
  let origin: string;
  try {
    const u = new URL(publicUrl);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    origin = u.origin + u.pathname.replace(/\/$/, "");
  } catch {
    s.fail("public_url", `must be an http(s) URL, got ${JSON.stringify(publicUrl)}`);
  }
  const inviteTtl = s.duration("invite_ttl", "7d");
  const inviteMaxTtl = s.duration("invite_max_ttl", "30d");
  if (inviteTtl > inviteMaxTtl) s.fail("invite_ttl", "is longer than invite_max_ttl");
  const resetTtl = s.duration("reset_ttl", "1d");
  if (resetTtl > inviteMaxTtl) s.fail("reset_ttl", "is longer than invite_max_ttl");
  const host: HostConfig = {
    name,
    publicUrl: origin,
    invitePath: path_(s, "invite_path", "/invite"),
    registerPath: path_(s, "register_path", "/register"),
    inviteTtl,
    inviteMaxTtl,
    resetTtl,
    usernameMaxLength: s.int("username_max_length", 64, 1, 1023),
    passwordMinLength: s.int("password_min_length", 8, 1, 1024),
    apps: readApps(s),
    provision: readProvision(s.table_("provision")),
    prosodyRoles: readProsodyRoles(s),
    appRegistration: readAppRegistration(s),
  };
  s.done();
  return host;
}

function readApps(s: Section): ClientApp[] | null {
  const v = s.raw_("apps");
  if (v === undefined) return null;
  if (!Array.isArray(v)) s.fail("apps", "must be an array of tables ([[hosts.NAME.apps]])");
  return v.map((item, i) => {
    if (!isTable(item)) s.fail(`apps[${i}]`, "must be a table");
    const a = new Section(item, s.sub(`apps[${i}]`), s.where);
    const app: ClientApp = {
      name: a.string("name", ""),
      platforms: a.stringList("platforms", []),
      url: a.string("url", ""),
      logo: a.optionalString("logo") ?? undefined,
    };
    if (!app.name) a.fail("name", "is required");
    if (app.name.length > 80 || /[\p{C}]/u.test(app.name)) a.fail("name", "must be at most 80 characters without control characters");
    if (app.platforms.length === 0) a.fail("platforms", `is required: a list of ${APP_PLATFORMS.map((p) => JSON.stringify(p)).join(", ")}`);
    app.platforms = app.platforms.map((p) => p.toLowerCase());
    for (const p of app.platforms) {
      if (!(APP_PLATFORMS as readonly string[]).includes(p)) a.fail("platforms", `has unknown platform ${JSON.stringify(p)} (known: ${APP_PLATFORMS.join(", ")})`);
    }
    if (app.logo !== undefined) checkLogo(a, app.logo);
    try {
      const u = new URL(app.url);
      if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error();
    } catch {
      a.fail("url", "must be an http(s) URL");
    }
    a.done();
    return app;
  });
}

function readAppRegistration(s: Section): "auto" | boolean {
  const v = s.raw_("app_registration");
  if (v === undefined || v === "auto") return "auto";
  if (typeof v === "boolean") return v;
  s.fail("app_registration", `must be "auto", true or false, got ${describe(v)}`);
}

/** `prosody_roles`: which invite roles reach Prosody through mod_invited. prosody:admin is refused outright. */
function readProsodyRoles(s: Section): string[] {
  const roles = s.stringList("prosody_roles", []);
  for (const r of roles) {
    if (r === "prosody:admin") s.fail("prosody_roles", "must not contain \"prosody:admin\": an invite never makes a server admin");
    if (r.length === 0 || r.length > 64 || /[\s\p{C}]/u.test(r)) s.fail("prosody_roles", `has an invalid role name ${JSON.stringify(r)}`);
  }
  return [...new Set(roles)];
}

/** Platforms an app can be listed under on the landing page. */
export const APP_PLATFORMS = ["android", "ios", "linux", "windows", "macos", "web"] as const;

/** A logo is a built-in badge by name, or an absolute path to an image file (served by invited under /assets/). */
function checkLogo(a: Section, logo: string): void {
  if (Object.hasOwn(BUILTIN_LOGOS, logo)) return;
  if (!logo.startsWith("/")) a.fail("logo", `must be a built-in logo (${Object.keys(BUILTIN_LOGOS).join(", ")}) or an absolute path to an image file`);
  const ext = logo.slice(logo.lastIndexOf(".") + 1).toLowerCase();
  if (!Object.hasOwn(LOGO_TYPES, ext)) a.fail("logo", `must be a ${Object.keys(LOGO_TYPES).join(", ")} file`);
  try {
    if (!statSync(logo).isFile()) throw new Error();
  } catch {
    a.fail("logo", `cannot read the file ${JSON.stringify(logo)}`);
  }
}

const ARG_PLACEHOLDERS = ["username", "host", "groups", "roles"];

/** Checks the {placeholders} of a command argument or the stdin template. */
function checkPlaceholders(s: Section, key: string, text: string, allowed: string[]): void {
  for (const m of text.matchAll(/\{([A-Za-z_]*)\}/g)) {
    if (m[1] === "password" && !allowed.includes("password"))
      s.fail(key, "must not contain {password}: the password is only ever passed on stdin (see 'stdin')");
    if (!allowed.includes(m[1]!)) s.fail(key, `has an unknown placeholder {${m[1]}} (known: ${allowed.map((a) => `{${a}}`).join(" ")})`);
  }
}

function readSecrets(s: Section): string[] {
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

function httpUrl(s: Section, key: string, value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    return u.href;
  } catch {
    s.fail(key, `must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
}

function readProvision(s: Section): ProvisionConfig {
  const type = s.string("type", "none");
  if (type !== "none" && type !== "webhook" && type !== "command") s.fail("type", `must be "none", "webhook" or "command", got ${JSON.stringify(type)}`);
  const command = s.raw_("command") === undefined ? undefined : s.stringList("command", []);
  const resetCommand = s.raw_("reset_command") === undefined ? undefined : s.stringList("reset_command", []);
  const p: ProvisionConfig = {
    type,
    url: s.optionalString("url") ?? undefined,
    secrets: readSecrets(s),
    command,
    resetCommand,
    stdin: s.string("stdin", "{password}\n{password}\n"),
    timeout: s.duration("timeout", "10s"),
    keepPassword: s.bool("keep_password", false),
    takenExitCode: s.optionalInt("taken_exit_code", 1, 255),
  };
  if (p.timeout < 100 || p.timeout > 600_000) s.fail("timeout", "must be between 100ms and 10m");
  if (type === "webhook") {
    if (!p.url) s.fail("url", "is required when type = \"webhook\"");
    p.url = httpUrl(s, "url", p.url);
    if (p.secrets.length === 0) s.fail("secret", "is required when type = \"webhook\"");
  }
  if (type === "command") {
    if (!p.command || p.command.length === 0 || p.command[0] === "") s.fail("command", "is required when type = \"command\": a list like [\"prosodyctl\", \"adduser\", \"{username}@{host}\"]");
    for (const arg of p.command) checkPlaceholders(s, "command", arg, ARG_PLACEHOLDERS);
    if (p.resetCommand !== undefined) {
      if (p.resetCommand.length === 0 || p.resetCommand[0] === "") s.fail("reset_command", "must be a non-empty list");
      for (const arg of p.resetCommand) checkPlaceholders(s, "reset_command", arg, ARG_PLACEHOLDERS);
    }
    checkPlaceholders(s, "stdin", p.stdin, [...ARG_PLACEHOLDERS, "password"]);
  }
  s.done();
  return p;
}

/** `[[notify]]`: outgoing notification webhooks. */
function readNotify(root: Section, hosts: Record<string, HostConfig>): NotifyEndpoint[] {
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

// Routes invited always serves; a configured path on one of them (or under a prefix) would hide one of the two.
const FIXED_ROUTES = ["/healthz", "/metrics", "/assets/", "/api/v1/"];

/**
 * The landing page, the registration page and /invites_api each need a path of their own: on a shared path the
 * router serves only one of them (a mint URL answering with a landing page, an invite link redirecting to itself).
 * Hosts may share the same page path with each other, which is the default.
 */
function checkRoutePaths(invitesApiPath: string, hosts: Record<string, HostConfig>, where: string): void {
  const owners = new Map<string, { key: string; kind: string }>();
  const claim = (path: string, key: string, kind: string) => {
    const fixed = FIXED_ROUTES.find((r) => (r.endsWith("/") ? path === r.slice(0, -1) || path.startsWith(r) : path === r));
    if (fixed) throw new ConfigError(`${where}: '${key}' ${JSON.stringify(path)} is a path invited already serves (${fixed}); choose another`);
    const owner = owners.get(path);
    if (owner && owner.kind !== kind) throw new ConfigError(`${where}: '${owner.key}' and '${key}' are both ${JSON.stringify(path)}; each needs a path of its own`);
    owners.set(path, { key, kind });
  };
  claim(invitesApiPath, "server.invites_api_path", "api");
  for (const h of Object.values(hosts)) {
    claim(h.invitePath, `hosts."${h.name}".invite_path`, "landing");
    claim(h.registerPath, `hosts."${h.name}".register_path`, "register");
  }
}

// The environment variables that override one setting each (README: "Environment overrides").
const ENV_OVERRIDES: Record<string, string> = {
  INVITED_LISTEN: "server.listen",
  INVITED_TRUSTED_PROXIES: "server.trusted_proxies",
  INVITED_DATABASE: "database.path",
  INVITED_PUBLIC_URL: "hosts.*.public_url",
  INVITED_GEOIP_DATABASE: "audit.geoip_database",
};

/** " (from INVITED_X)" when an environment variable supplied the value, so an error does not blame the file. */
function fromEnv(env: Record<string, string | undefined>, name: string): string {
  return env[name] !== undefined ? ` (from ${name})` : "";
}

/** Builds a validated Config from a parsed TOML document. */
export function buildConfig(doc: Table, file: string | null, env: Record<string, string | undefined> = process.env): Config {
  const where = file ?? "built-in defaults";
  const root = new Section(doc, "", where);
  // An empty override (an `Environment=` line with nothing after it) is a mistake, not a way to unset a setting.
  for (const [name, setting] of Object.entries(ENV_OVERRIDES)) {
    if (env[name] === "") throw new ConfigError(`${where}: '${setting}' must not be empty (${name} is set to an empty value)`);
  }

  const server = root.table_("server");
  const listenFromFile = server.string("listen", "127.0.0.1:5380");
  const listenText = env.INVITED_LISTEN ?? listenFromFile;
  const listen = parseListen(listenText);
  if (listen === null) server.fail("listen", `must be "ADDRESS:PORT", got ${JSON.stringify(listenText)}${fromEnv(env, "INVITED_LISTEN")}`);
  const proxiesFromFile = server.stringList("trusted_proxies", ["127.0.0.1", "::1"]);
  const trustedProxies = env.INVITED_TRUSTED_PROXIES !== undefined
    ? env.INVITED_TRUSTED_PROXIES.split(",").map((x) => x.trim()).filter(Boolean)
    : proxiesFromFile;
  // An override of only commas would silently trust no proxy at all; an empty list belongs in the file, where it is visible.
  if (env.INVITED_TRUSTED_PROXIES !== undefined && trustedProxies.length === 0) server.fail("trusted_proxies", `must not be empty${fromEnv(env, "INVITED_TRUSTED_PROXIES")}`);
  const badProxy = parseAddressList(trustedProxies);
  if (badProxy) server.fail("trusted_proxies", `has an invalid address or CIDR range: ${JSON.stringify(badProxy)}${fromEnv(env, "INVITED_TRUSTED_PROXIES")}`);
  const metricsAllow = server.stringList("metrics_allow", ["127.0.0.1", "::1"]);
  const badMetrics = parseAddressList(metricsAllow);
  if (badMetrics) server.fail("metrics_allow", `has an invalid address or CIDR range: ${JSON.stringify(badMetrics)}`);
  const serverCfg: Config["server"] = {
    hostname: listen!.hostname,
    port: listen!.port,
    trustedProxies,
    metricsAllow,
    invitesApiPath: path_(server, "invites_api_path", "/invites_api"),
    shutdownTimeout: server.duration("shutdown_timeout", "10s"),
    maxBodySize: server.int("max_body_size", 1024 * 1024, 1024, 64 * 1024 * 1024),
    idleTimeout: server.duration("idle_timeout", "30s") / 1000, // whole seconds for Bun; checked below before rounding
    requestLog: server.bool("request_log", true),
  };
  if (serverCfg.idleTimeout < 1 || serverCfg.idleTimeout > 255) server.fail("idle_timeout", "must be between 1s and 255s");
  serverCfg.idleTimeout = Math.round(serverCfg.idleTimeout);
  if (serverCfg.shutdownTimeout > 3_600_000) server.fail("shutdown_timeout", "must be at most 1h"); // systemd gives up long before
  server.done();

  const database = root.table_("database");
  const dbPathFromFile = database.string("path", "./invited.db");
  const dbCfg = {
    path: env.INVITED_DATABASE ?? dbPathFromFile,
    busyTimeout: database.duration("busy_timeout", "5s"),
  };
  if (dbCfg.path === "") database.fail("path", "must not be empty");
  database.done();

  const audit = root.table_("audit");
  const geoipFromFile = audit.optionalString("geoip_database");
  const auditCfg: Config["audit"] = {
    enabled: audit.bool("enabled", true),
    ips: audit.bool("ips", true),
    ipv4Prefix: audit.optionalInt("ipv4_prefix", 0, 32),
    ipv6Prefix: audit.optionalInt("ipv6_prefix", 0, 128),
    location: audit.bool("location", true),
    geoipDatabase: env.INVITED_GEOIP_DATABASE ?? geoipFromFile,
    geoipCheckInterval: audit.duration("geoip_check_interval", "60s"),
    expiresAfter: audit.duration("expires_after", "28d"),
    maxRows: audit.optionalInt("max_rows", 1, Number.MAX_SAFE_INTEGER),
    pruneInterval: audit.duration("prune_interval", "1d"),
  };
  if (auditCfg.geoipDatabase === "") audit.fail("geoip_database", "must not be empty");
  // Timers cannot wait longer than 2^31 ms (~24.8 days); a longer interval would fire continuously.
  if (auditCfg.pruneInterval > 24 * 86_400_000) audit.fail("prune_interval", "must be at most 24d");
  if (auditCfg.geoipCheckInterval > 24 * 86_400_000) audit.fail("geoip_check_interval", "must be at most 24d");
  audit.done();

  const limits = root.table_("limits");
  const limitsCfg: Config["limits"] = {
    authFailures: limits.int("auth_failures", 10, 0, 1_000_000), // 0: no lockout
    authWindow: limits.duration("auth_window", "10m"),
    authFailureWindow: limits.duration("auth_failure_log_window", "60s"),
    lockout: limits.duration("lockout", "15m"),
    ipv4Prefix: limits.int("ipv4_prefix", 32, 0, 32),
    ipv6Prefix: limits.int("ipv6_prefix", 64, 0, 128),
  };
  limits.done();

  const hostsTable = root.table_("hosts");
  const hosts: Record<string, HostConfig> = {};
  const names = hostsTable.keys();
  for (const name of names) {
    if (!HOSTNAME_RE.test(name)) hostsTable.fail(name, "is not a valid lower-case host name");
    hosts[name] = readHost(name, hostsTable.table_(name));
  }
  hostsTable.done();
  if (names.length === 0) {
    hosts.localhost = readHost("localhost", new Section({ public_url: "http://localhost:5380" }, "hosts.localhost", where));
  }
  if (env.INVITED_PUBLIC_URL !== undefined) {
    // Convenience for single-host set-ups: overrides public_url of every configured host.
    for (const h of Object.values(hosts)) {
      const s = new Section({ public_url: env.INVITED_PUBLIC_URL }, `hosts.${h.name}`, "INVITED_PUBLIC_URL");
      h.publicUrl = readHost(h.name, s).publicUrl;
    }
  }
  checkRoutePaths(serverCfg.invitesApiPath, hosts, where);
  const notify = readNotify(root, hosts);
  root.done();

  return { file, server: serverCfg, database: dbCfg, audit: auditCfg, limits: limitsCfg, hosts, notify };
}

/** Loads the config named by --config or INVITED_CONFIG, or the built-in defaults when neither is given. */
export function loadConfig(file?: string | null, env: Record<string, string | undefined> = process.env): Config {
  if (!file && env.INVITED_CONFIG === "") throw new ConfigError("INVITED_CONFIG is set to an empty value; unset it to run on the built-in defaults");
  const path = file || env.INVITED_CONFIG || null;
  if (!path) return buildConfig({}, null, env);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`${path}: cannot read config file: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (e) {
    const msg = String((e as Error).message).split("\n")[0];
    throw new ConfigError(`${path}: invalid TOML: ${msg}`);
  }
  return buildConfig(doc, path, env);
}

export function getHost(config: Config, host: string): HostConfig | null {
  return Object.hasOwn(config.hosts, host) ? config.hosts[host]! : null;
}
