import { parse as parseToml } from "smol-toml";
import { readFileSync, statSync } from "node:fs";
import { BUILTIN_LOGOS, LOGO_TYPES } from "../pages/logos.ts";
import { parseDuration } from "../lib/duration.ts";
import { parseAddressList } from "../lib/ip.ts";
import { webhookSecretProblem } from "../lib/webhooks.ts";
import { parseRate, type Rate } from "../limits/rate.ts";
import { isLang, LANGUAGES, type Lang } from "../i18n/catalogs.ts";
import { messageProblem } from "../i18n/check.ts";

export interface ClientApp {
  name: string;
  platforms: string[];
  url: string;
  logo?: string;
}

/** `type = "ejabberd"`: ejabberd's mod_http_api. */
export interface EjabberdConfig {
  /** The API's base URL, e.g. http://127.0.0.1:5281/api (http only to a loopback address). */
  url: string;
  /** HTTP Basic credentials of an ejabberd account allowed by api_permissions; null: none (allowed by IP). */
  apiUser: string | null;
  apiPassword: string | null;
}

/** `type = "ldap"`: accounts are entries in a directory. */
export interface LdapConfig {
  url: string;
  /** ldap:// upgraded with StartTLS before binding. */
  startTls: boolean;
  /** PEM CA certificate(s) to trust for ldaps:// and StartTLS; null: the system's. */
  ca: string | null;
  bindDn: string;
  bindPassword: string;
  baseDn: string;
  rdnAttribute: string;
  objectClasses: string[];
  /** attribute name -> value template ({username}, {host}, {email}); one with {email} is left out when there is no address. */
  attributes: Record<string, string>;
  /** Group entries {groupRdnAttribute}={group},{groupBaseDn} get the user as {groupMemberAttribute}; null: no groups. */
  groupBaseDn: string | null;
  groupRdnAttribute: string;
  groupMemberAttribute: string;
  groupObjectClasses: string[];
  /** disable sets this attribute to disableValue, enable removes it; null: disable is not supported. */
  disableAttribute: string | null;
  disableValue: string;
}

export interface ProvisionConfig {
  type: "none" | "webhook" | "command" | "ejabberd" | "ldap";
  ejabberd?: EjabberdConfig;
  ldap?: LdapConfig;
  url?: string;
  secrets: string[];
  command?: string[];
  /** Command provider: argv that sets a new password (password resets); without it resets are refused. */
  resetCommand?: string[];
  /** Command provider: argv run (with an empty stdin) to disable, enable or delete the account downstream. */
  disableCommand?: string[];
  enableCommand?: string[];
  deleteCommand?: string[];
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

/** `[hosts.X.signin]`: where a member's password is checked when they sign in to the account pages. */
export interface SigninConfig {
  /** none: sign-in is off (the default when a provider owns the password and no check is configured). */
  type: "none" | "local" | "xmpp" | "command" | "webhook" | "ldap";
  /** xmpp: the XMPP server's client port. */
  server: { hostname: string; port: number } | null;
  /** xmpp: "starttls" (upgrade when the server offers it) or "direct" (TLS from the first byte, port 5223). */
  tls: "starttls" | "direct";
  /** command: argv with {username} {host}; the password goes on stdin in the `stdin` format. */
  verifyCommand: string[] | null;
  stdin: string;
  /** webhook: the endpoint that answers signed `signin.verify` requests with 204 or 401. */
  url: string | null;
  secrets: string[];
  timeout: number;
}

/** `[hosts.X.user_invites]`: invites that members make from their account page. */
export interface UserInvitesConfig {
  /** Invites a member may create per period; 0: members cannot invite. */
  quota: number;
  period: number;
  /** max_uses of each member invite (the most a member may ask for). */
  uses: number;
  ttl: number;
  /** New accounts wait this long before they may invite. */
  minAccountAge: number;
  /** Members with one of these roles have no quota. */
  rolesUnlimited: string[];
}

export interface HostConfig {
  name: string;
  publicUrl: string; // origin without trailing slash
  invitePath: string;
  registerPath: string;
  inviteTtl: number;
  inviteMaxTtl: number;
  resetTtl: number;
  usernameMinLength: number;
  usernameMaxLength: number;
  /** As configured (accounts/username.ts compares them normalised and by skeleton). Default: DEFAULT_RESERVED_USERNAMES and the host name's first label. */
  reservedUsernames: string[];
  passwordMinLength: number;
  apps: ClientApp[] | null; // null: the built-in XMPP client list
  provision: ProvisionConfig;
  /** Languages the host's pages offer, in picker order (default: every catalog). */
  languages: Lang[];
  /** The language when nothing the visitor sends matches one of `languages`. */
  defaultLanguage: Lang;
  /** `[hosts.NAME.messages.LANG]`: the host's own text for some messages, checked against the English message. */
  messages: Partial<Record<Lang, Record<string, string>>>;
  /** Roles of an invite that mod_invited may hand to Prosody's roles store (never prosody:admin). */
  prosodyRoles: string[];
  /**
   * Whether apps may register in-band with invited's tokens (the app button, the Link header, xmpp_uri): "auto"
   * offers it while the host's Prosody (mod_invited) has reported in within the last day.
   */
  appRegistration: "auto" | boolean;
  signin: SigninConfig;
  userInvites: UserInvitesConfig;
  /** The account page shows the (stored, prefix-cut) address of each event and session, not only its location. */
  showIpToUser: boolean;
  /** Shown on every page of the host in place of its name. */
  siteName: string | null;
  /** "Questions? Ask ...": an address, or an http(s)/mailto:/xmpp: URL. */
  contact: string | null;
  termsUrl: string | null;
  privacyUrl: string | null;
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
    /** Where GET / sends people (302) when no host's page lives at "/"; null: a small page naming the hosts. */
    homeUrl: string | null;
    metricsAllow: string[];
    /** The language of pages that belong to no host (a dead link on a path several hosts share). */
    defaultLanguage: Lang;
    /** Where the account pages live: ACCOUNT_PATH/login, ACCOUNT_PATH/invites, ... */
    accountPath: string;
    /** Where the admin console lives (everything below it is the console's). */
    adminPath: string;
    /** Addresses or CIDR ranges that may reach admin_path at all; empty: no address limit. */
    adminAllow: string[];
  };
  sessions: {
    /** A session unused this long ends. */
    idleTimeout: number;
    /** A session ends this long after sign-in, however busy. */
    lifetime: number;
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
    /** Registration attempts per client network; null: no throttle ("off"). */
    registrationRate: Rate | null;
    hashConcurrency: number;
    hashQueue: number;
    /** Sign-in attempts per client network; null: no throttle. */
    signinRate: Rate | null;
    /** Sign-in attempts per account (name@host, known or not); null: no throttle. */
    signinAccountRate: Rate | null;
  };
  hosts: Record<string, HostConfig>;
  notify: NotifyEndpoint[];
}

export class ConfigError extends Error {}

type Table = Record<string, unknown>;

/** While knownSettings() runs: told the path of every key the parser reads. */
let settingRead: ((path: string) => void) | null = null;

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
    usernameMinLength: s.int("username_min_length", 2, 1, 1023),
    usernameMaxLength: s.int("username_max_length", 64, 1, 1023),
    reservedUsernames: readReserved(name, s),
    passwordMinLength: s.int("password_min_length", 8, 1, 1024),
    apps: readApps(s),
    provision: readProvision(s.table_("provision")),
    ...readLanguages(s),
    prosodyRoles: readProsodyRoles(s),
    appRegistration: readAppRegistration(s),
    signin: NO_SIGNIN,
    userInvites: readUserInvites(s.table_("user_invites")),
    showIpToUser: s.bool("show_ip_to_user", false),
    siteName: shortText(s, "site_name", 80),
    contact: readContact(s),
    termsUrl: optionalHttpUrl(s, "terms_url"),
    privacyUrl: optionalHttpUrl(s, "privacy_url"),
  };
  if (host.usernameMinLength > host.usernameMaxLength) s.fail("username_min_length", "is greater than username_max_length");
  if (host.userInvites.ttl > inviteMaxTtl) s.fail("user_invites", "ttl is longer than invite_max_ttl");
  host.signin = readSignin(s.table_("signin"), host.provision);
  s.done();
  return host;
}

function language(s: Section, key: string, value: string): Lang {
  if (!isLang(value)) s.fail(key, `has an unknown language ${JSON.stringify(value)} (known: ${LANGUAGES.join(", ")})`);
  return value;
}

/** `languages`, `default_language` and `[hosts.NAME.messages.LANG]` of a host. */
function readLanguages(s: Section): Pick<HostConfig, "languages" | "defaultLanguage" | "messages"> {
  const list = s.stringList("languages", [...LANGUAGES]);
  if (list.length === 0) s.fail("languages", "must name at least one language");
  const languages = [...new Set(list.map((l) => language(s, "languages", l)))];
  const defaultLanguage = language(s, "default_language", s.string("default_language", "en"));
  if (!languages.includes(defaultLanguage)) s.fail("default_language", `is ${JSON.stringify(defaultLanguage)}, which is not in languages (${languages.join(", ")})`);
  const table: Section = s.table_("messages");
  const messages: HostConfig["messages"] = {};
  for (const lang of table.keys()) {
    if (!isLang(lang)) table.fail(lang, `is not a known language (known: ${LANGUAGES.join(", ")})`);
    if (!languages.includes(lang)) table.fail(lang, `is a language this host does not offer (languages: ${languages.join(", ")})`);
    const section: Section = table.table_(lang);
    const texts: Record<string, string> = {};
    for (const key of section.keys()) {
      const text = section.string(key, "");
      const problem = messageProblem(lang, key, text);
      if (problem) section.fail(key, problem);
      texts[key] = text;
    }
    section.done();
    messages[lang] = texts;
  }
  table.done();
  return { languages, defaultLanguage, messages };
}

const NO_SIGNIN: SigninConfig = { type: "none", server: null, tls: "starttls", verifyCommand: null, stdin: "{password}\n", url: null, secrets: [], timeout: 10_000 };

function readSignin(s: Section, provision: ProvisionConfig): SigninConfig {
  // With no provider invited keeps the password, so it checks it itself; a provider's password must be checked where it lives.
  // An LDAP provider's directory can answer the check itself, by a bind as the user.
  const type = s.string("type", provision.type === "none" ? "local" : provision.type === "ldap" ? "ldap" : "none");
  if (!["none", "local", "xmpp", "command", "webhook", "ldap"].includes(type)) s.fail("type", `must be "local", "xmpp", "command", "webhook", "ldap" or "none", got ${JSON.stringify(type)}`);
  if (type === "ldap" && provision.type !== "ldap") s.fail("type", 'can be "ldap" only on a host whose [provision] is type = "ldap" (its directory settings are used)');
  const serverText = s.optionalString("server");
  const tls = s.string("tls", "starttls");
  if (tls !== "starttls" && tls !== "direct") s.fail("tls", `must be "starttls" or "direct", got ${JSON.stringify(tls)}`);
  const verifyCommand = s.raw_("verify_command") === undefined ? null : s.stringList("verify_command", []);
  const url = s.optionalString("url");
  const c: SigninConfig = {
    type: type as SigninConfig["type"],
    server: null,
    tls,
    verifyCommand,
    stdin: s.string("stdin", "{password}\n"),
    url: null,
    secrets: readSecrets(s),
    timeout: s.duration("timeout", "10s"),
  };
  if (c.timeout < 100 || c.timeout > 120_000) s.fail("timeout", "must be between 100ms and 2m");
  if (type === "xmpp") {
    if (!serverText) s.fail("server", 'is required when type = "xmpp": the XMPP server\'s client port, like "127.0.0.1:5222"');
    const listen = parseListen(serverText);
    if (!listen) s.fail("server", `must be "HOST:PORT", got ${JSON.stringify(serverText)}`);
    c.server = listen;
  }
  if (type === "command") {
    if (!verifyCommand || verifyCommand.length === 0 || verifyCommand[0] === "") s.fail("verify_command", 'is required when type = "command": a list like ["/usr/local/bin/check-password", "{username}@{host}"]');
    for (const arg of verifyCommand) checkPlaceholders(s, "verify_command", arg, ["username", "host"]);
    checkPlaceholders(s, "stdin", c.stdin, ["username", "host", "password"]);
  }
  if (type === "webhook") {
    if (!url) s.fail("url", 'is required when type = "webhook"');
    c.url = httpUrl(s, "url", url);
    if (c.secrets.length === 0) s.fail("secret", 'is required when type = "webhook"');
  }
  s.done();
  return c;
}

function readUserInvites(s: Section): UserInvitesConfig {
  const c: UserInvitesConfig = {
    quota: s.int("quota", 0, 0, 10_000),
    period: s.duration("period", "30d"),
    uses: s.int("uses", 1, 1, 1000),
    ttl: s.duration("ttl", "7d"),
    minAccountAge: durationOrZero(s, "min_account_age"),
    rolesUnlimited: s.stringList("roles_unlimited", []),
  };
  s.done();
  return c;
}

/** A duration that may be "0s" (off). */
function durationOrZero(s: Section, key: string): number {
  const v = s.raw_(key);
  if (v === undefined) return 0;
  const ms = typeof v === "string" ? parseDuration(v, { allowZero: true }) : null;
  if (ms === null) s.fail(key, `is not a valid duration: ${JSON.stringify(v)} (use e.g. "0s", "24h", "7d")`);
  return ms;
}

/** The roles and operator names every host reserves unless it sets `reserved_usernames` itself. */
export const DEFAULT_RESERVED_USERNAMES = [
  "admin",
  "administrator",
  "root",
  "postmaster",
  "hostmaster",
  "webmaster",
  "abuse",
  "security",
  "support",
  "noc",
  "info",
  "xmpp",
  "www",
  "mail",
  "ftp",
  "system",
] as const;

/** `reserved_usernames`: replaces the default list (set [] to reserve nothing), without repeats. */
function readReserved(hostName: string, s: Section): string[] {
  const list = s.stringList("reserved_usernames", [...DEFAULT_RESERVED_USERNAMES, hostName.split(".")[0]!]);
  if (list.length > 10_000) s.fail("reserved_usernames", "has more than 10000 names");
  return [
    ...new Set(
      list.map((n) => {
        if (n === "" || n.length > 1023) s.fail("reserved_usernames", `must hold names of 1 to 1023 characters, got ${JSON.stringify(n.slice(0, 40))}`);
        return n;
      }),
    ),
  ];
}

/** An optional one-line text shown on pages: at most `max` characters, no control characters. */
function shortText(s: Section, key: string, max: number): string | null {
  const v = s.optionalString(key);
  if (v !== null && (v.length > max || /\p{C}/u.test(v))) s.fail(key, `must be at most ${max} characters without control characters`);
  return v;
}

function optionalHttpUrl(s: Section, key: string): string | null {
  const v = s.optionalString(key);
  return v === null ? null : httpUrl(s, key, v);
}

/** `contact`: an address people can write to (user@host) or a link (http, https, mailto, xmpp). */
function readContact(s: Section): string | null {
  const v = shortText(s, "contact", 200);
  if (v === null) return null;
  if (/^(https?|mailto|xmpp):/i.test(v)) {
    try {
      new URL(v);
    } catch {
      s.fail("contact", `is not a valid URL: ${JSON.stringify(v)}`);
    }
  } else if (!/^[^\s@]+@[^\s@]+$/.test(v)) s.fail("contact", 'must be an address like "admin@example.org" or an http(s), mailto: or xmpp: URL');
  return v;
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
  if (!["none", "webhook", "command", "ejabberd", "ldap"].includes(type)) s.fail("type", `must be "none", "webhook", "command", "ejabberd" or "ldap", got ${JSON.stringify(type)}`);
  if (type === "ejabberd") return finish(s, { ...baseProvision(s, "ejabberd"), ejabberd: readEjabberd(s) });
  if (type === "ldap") return finish(s, { ...baseProvision(s, "ldap"), ldap: readLdap(s) });
  const command = s.raw_("command") === undefined ? undefined : s.stringList("command", []);
  const optionalArgv = (key: string) => (s.raw_(key) === undefined ? undefined : s.stringList(key, []));
  const resetCommand = optionalArgv("reset_command");
  const disableCommand = optionalArgv("disable_command");
  const enableCommand = optionalArgv("enable_command");
  const deleteCommand = optionalArgv("delete_command");
  const p: ProvisionConfig = {
    type: type as ProvisionConfig["type"],
    url: s.optionalString("url") ?? undefined,
    secrets: readSecrets(s),
    command,
    resetCommand,
    disableCommand,
    enableCommand,
    deleteCommand,
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
    const optional: [string, string[] | undefined][] = [
      ["reset_command", p.resetCommand],
      ["disable_command", p.disableCommand],
      ["enable_command", p.enableCommand],
      ["delete_command", p.deleteCommand],
    ];
    for (const [key, argv] of optional) {
      if (argv === undefined) continue;
      if (argv.length === 0 || argv[0] === "") s.fail(key, "must be a non-empty list");
      for (const arg of argv) checkPlaceholders(s, key, arg, ARG_PLACEHOLDERS);
    }
    checkPlaceholders(s, "stdin", p.stdin, [...ARG_PLACEHOLDERS, "password"]);
  }
  s.done();
  return p;
}

function finish(s: Section, p: ProvisionConfig): ProvisionConfig {
  s.done();
  return p;
}

/** The settings every built-in provider shares. */
function baseProvision(s: Section, type: "ejabberd" | "ldap"): ProvisionConfig {
  const p: ProvisionConfig = { type, secrets: [], stdin: "", timeout: s.duration("timeout", "10s"), keepPassword: s.bool("keep_password", false), takenExitCode: null };
  if (p.timeout < 100 || p.timeout > 600_000) s.fail("timeout", "must be between 100ms and 10m");
  return p;
}

/** A secret kept in a file of its own (mode 0600, readable by invited only), read once at start-up. */
function secretFile(s: Section, key: string): string {
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

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function readEjabberd(s: Section): EjabberdConfig {
  const raw = s.optionalString("url");
  if (!raw) s.fail("url", 'is required when type = "ejabberd": mod_http_api\'s base URL, like "http://127.0.0.1:5281/api"');
  const url = httpUrl(s, "url", raw);
  const u = new URL(url);
  // The password travels in the request body: in clear only over loopback.
  if (u.protocol === "http:" && !isLoopbackHost(u.hostname)) s.fail("url", `must be https:// unless it is a loopback address (passwords travel in the request), got ${JSON.stringify(raw)}`);
  const apiUser = s.optionalString("api_user");
  const apiPassword = apiUser !== null ? secretFile(s, "api_password_file") : null;
  if (apiUser === null && s.raw_("api_password_file") !== undefined) s.fail("api_password_file", "needs api_user");
  if (apiUser !== null && !/^[^@\s]+@[^@\s]+$/.test(apiUser)) s.fail("api_user", `must be an account's address like "invited@example.org", got ${JSON.stringify(apiUser)}`);
  return { url: url.replace(/\/+$/, ""), apiUser, apiPassword };
}

const LDAP_ATTR_RE = /^[A-Za-z][A-Za-z0-9-]*$/;

function readLdap(s: Section): LdapConfig {
  const raw = s.optionalString("url");
  if (!raw) s.fail("url", 'is required when type = "ldap": "ldapi://", "ldaps://HOST" or "ldap://HOST" with start_tls = true');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    s.fail("url", `must be an ldap://, ldaps:// or ldapi:// URL, got ${JSON.stringify(raw)}`);
  }
  if (!["ldap:", "ldaps:", "ldapi:"].includes(u.protocol)) s.fail("url", `must be an ldap://, ldaps:// or ldapi:// URL, got ${JSON.stringify(raw)}`);
  const startTls = s.bool("start_tls", false);
  if (startTls && u.protocol !== "ldap:") s.fail("start_tls", "only applies to ldap:// URLs");
  // Passwords cross this connection: in clear only to this machine.
  if (u.protocol === "ldap:" && !startTls && !isLoopbackHost(u.hostname)) s.fail("url", `a plain ldap:// URL to a non-loopback address sends passwords in clear: use ldaps://, ldapi:// or start_tls = true (got ${JSON.stringify(raw)})`);
  const caFile = s.optionalString("ca_file");
  let ca: string | null = null;
  if (caFile !== null) {
    try {
      ca = readFileSync(caFile, "utf8");
    } catch (e) {
      s.fail("ca_file", `cannot read ${JSON.stringify(caFile)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const bindDn = s.optionalString("bind_dn");
  if (bindDn === null) s.fail("bind_dn", "is required: the DN invited binds as (allowed to add, modify and delete entries under base_dn)");
  const bindPassword = secretFile(s, "bind_password_file");
  const baseDn = s.optionalString("base_dn");
  if (baseDn === null) s.fail("base_dn", 'is required: where accounts live, like "ou=people,dc=example,dc=org"');
  const attrName = (key: string, fallback: string) => {
    const v = s.string(key, fallback);
    if (!LDAP_ATTR_RE.test(v)) s.fail(key, `must be an attribute name, got ${JSON.stringify(v)}`);
    return v;
  };
  const rdnAttribute = attrName("rdn_attribute", "uid");
  const objectClasses = s.stringList("object_classes", ["inetOrgPerson"]);
  if (objectClasses.length === 0 || objectClasses.some((c) => !LDAP_ATTR_RE.test(c))) s.fail("object_classes", "must be a non-empty list of object class names");
  const attrsRaw = s.raw_("attributes");
  let attributes: Record<string, string> = { uid: "{username}", cn: "{username}", sn: "{username}", mail: "{email}" };
  if (attrsRaw !== undefined) {
    if (!isTable(attrsRaw)) s.fail("attributes", "must be a table of attribute = \"template\"");
    attributes = {};
    for (const [k, v] of Object.entries(attrsRaw)) {
      if (!LDAP_ATTR_RE.test(k)) s.fail(`attributes.${k}`, "is not an attribute name");
      if (typeof v !== "string" || v === "") s.fail(`attributes.${k}`, "must be a non-empty string");
      for (const m of v.matchAll(/\{([A-Za-z_]*)\}/g)) {
        if (m[1] === "password") s.fail(`attributes.${k}`, "must not contain {password}: the directory sets and hashes the password itself (Password Modify)");
        if (!["username", "host", "email"].includes(m[1]!)) s.fail(`attributes.${k}`, `has an unknown placeholder {${m[1]}} (known: {username} {host} {email})`);
      }
      if (k.toLowerCase() === "userpassword") s.fail(`attributes.${k}`, "cannot be set: the directory sets and hashes the password itself (Password Modify)");
      attributes[k] = v;
    }
  }
  if (!Object.keys(attributes).some((k) => k.toLowerCase() === rdnAttribute.toLowerCase())) attributes[rdnAttribute] = "{username}";
  const groupBaseDn = s.optionalString("group_base_dn");
  const disableAttribute = s.optionalString("disable_attribute");
  if (disableAttribute !== null && !LDAP_ATTR_RE.test(disableAttribute)) s.fail("disable_attribute", `must be an attribute name, got ${JSON.stringify(disableAttribute)}`);
  return {
    url: raw,
    startTls,
    ca,
    bindDn,
    bindPassword,
    baseDn,
    rdnAttribute,
    objectClasses,
    attributes,
    groupBaseDn,
    groupRdnAttribute: attrName("group_rdn_attribute", "cn"),
    groupMemberAttribute: attrName("group_member_attribute", "member"),
    groupObjectClasses: s.stringList("group_object_classes", ["groupOfNames"]),
    disableAttribute,
    disableValue: s.string("disable_value", "000001010000Z"),
  };
}

/** A rate like "5/hour", or "off" for none. */
function readRate(s: Section, key: string, fallback: string): Rate | null {
  const text = s.string(key, fallback);
  if (text === "off") return null;
  const rate = parseRate(text);
  if (rate === null) s.fail(key, `must be a rate like "5/hour" (N/sec, N/min, N/hour or N/day) or "off", got ${JSON.stringify(text)}`);
  return rate;
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
function checkRoutePaths(invitesApiPath: string, accountPath: string, adminPath: string, hosts: Record<string, HostConfig>, where: string): void {
  const owners = new Map<string, { key: string; kind: string }>();
  const claim = (path: string, key: string, kind: string) => {
    const fixed = FIXED_ROUTES.find((r) => (r.endsWith("/") ? path === r.slice(0, -1) || path.startsWith(r) : path === r));
    if (fixed) throw new ConfigError(`${where}: '${key}' ${JSON.stringify(path)} is a path invited already serves (${fixed}); choose another`);
    const owner = owners.get(path);
    if (owner && owner.kind !== kind) throw new ConfigError(`${where}: '${owner.key}' and '${key}' are both ${JSON.stringify(path)}; each needs a path of its own`);
    // The account pages own everything below account_path (login, invites, ...).
    if (kind !== "account" && (path === accountPath || path.startsWith(`${accountPath}/`)))
      throw new ConfigError(`${where}: '${key}' ${JSON.stringify(path)} is inside server.account_path ${JSON.stringify(accountPath)}; choose another`);
    // The console owns everything below admin_path.
    if (kind !== "admin" && (path === adminPath || path.startsWith(`${adminPath}/`)))
      throw new ConfigError(`${where}: '${key}' ${JSON.stringify(path)} is inside server.admin_path ${JSON.stringify(adminPath)}; choose another`);
    owners.set(path, { key, kind });
  };
  claim(accountPath, "server.account_path", "account");
  claim(adminPath, "server.admin_path", "admin");
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
  const adminAllow = server.stringList("admin_allow", []);
  const badAdmin = parseAddressList(adminAllow);
  if (badAdmin) server.fail("admin_allow", `has an invalid address or CIDR range: ${JSON.stringify(badAdmin)}`);
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
    defaultLanguage: language(server, "default_language", server.string("default_language", "en")),
    accountPath: path_(server, "account_path", "/account"),
    adminPath: path_(server, "admin_path", "/admin"),
    adminAllow,
    homeUrl: null,
  };
  if (serverCfg.adminPath === "/") server.fail("admin_path", 'must not be "/"');
  const homeUrl = server.optionalString("home_url");
  if (homeUrl !== null) serverCfg.homeUrl = httpUrl(server, "home_url", homeUrl);
  if (serverCfg.accountPath === "/") server.fail("account_path", 'must not be "/"');
  if (serverCfg.idleTimeout < 1 || serverCfg.idleTimeout > 255) server.fail("idle_timeout", "must be between 1s and 255s");
  serverCfg.idleTimeout = Math.round(serverCfg.idleTimeout);
  if (serverCfg.shutdownTimeout > 3_600_000) server.fail("shutdown_timeout", "must be at most 1h"); // systemd gives up long before
  server.done();

  const sessions = root.table_("sessions");
  const sessionsCfg: Config["sessions"] = { idleTimeout: sessions.duration("idle_timeout", "1h"), lifetime: sessions.duration("lifetime", "7d") };
  if (sessionsCfg.idleTimeout < 60_000) sessions.fail("idle_timeout", "must be at least 1m");
  if (sessionsCfg.lifetime < sessionsCfg.idleTimeout) sessions.fail("lifetime", "must not be shorter than idle_timeout");
  if (sessionsCfg.lifetime > 400 * 86_400_000) sessions.fail("lifetime", "must be at most 400d (browsers cap cookies there)");
  sessions.done();

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
    registrationRate: readRate(limits, "registration_rate", "5/hour"),
    hashConcurrency: limits.int("hash_concurrency", 2, 1, 64), // each argon2id hash holds 64 MiB
    hashQueue: limits.int("hash_queue", 64, 0, 100_000),
    signinRate: readRate(limits, "signin_rate", "10/min"),
    signinAccountRate: readRate(limits, "signin_account_rate", "10/hour"),
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
    // The built-in host's links point where the server listens, so INVITED_LISTEN=127.0.0.1:18080 gives working links.
    const wildcard = ["127.0.0.1", "::1", "0.0.0.0", "::", "localhost"].includes(listen!.hostname);
    const authority = wildcard ? "localhost" : listen!.hostname.includes(":") ? `[${listen!.hostname}]` : listen!.hostname;
    hosts.localhost = readHost("localhost", new Section({ public_url: `http://${authority}:${listen!.port}` }, "hosts.localhost", where));
  }
  if (env.INVITED_PUBLIC_URL !== undefined) {
    // Convenience for single-host set-ups: overrides public_url of every configured host.
    for (const h of Object.values(hosts)) {
      const s = new Section({ public_url: env.INVITED_PUBLIC_URL }, `hosts.${h.name}`, "INVITED_PUBLIC_URL");
      h.publicUrl = readHost(h.name, s).publicUrl;
    }
  }
  checkRoutePaths(serverCfg.invitesApiPath, serverCfg.accountPath, serverCfg.adminPath, hosts, where);
  const notify = readNotify(root, hosts);
  root.done();

  return { file, server: serverCfg, sessions: sessionsCfg, database: dbCfg, audit: auditCfg, limits: limitsCfg, hosts, notify };
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

/**
 * Every setting the parser knows, as `server.listen`, `hosts.NAME.provision.timeout`, `notify[].url`: recorded while
 * it reads sample configs that reach every table (the parser reads each known key of a table, present or not). The
 * docs' list of settings is checked against this, so the two cannot drift apart.
 */
export function knownSettings(): string[] {
  const samples: Table[] = [
    {},
    {
      hosts: { sample: { apps: [{ name: "App", platforms: ["web"], url: "https://app.example/" }] } },
      notify: [{ url: "https://hooks.example/invited", secret: `whsec_${Buffer.alloc(24, 7).toString("base64")}` }],
    },
    // The built-in providers' own settings (secret files are not read while sampling).
    { hosts: { sample: { provision: { type: "ejabberd", url: "http://127.0.0.1:5281/api", api_user: "invited@sample", api_password_file: "/sample" } } } },
    { hosts: { sample: { provision: { type: "ldap", url: "ldapi:///", bind_dn: "cn=invited", bind_password_file: "/sample", base_dn: "dc=sample" } } } },
  ];
  const found = new Set<string>();
  settingRead = (path) => found.add(path.replace(/^hosts\.(?:sample|localhost)(?=\.|$)/, "hosts.NAME").replace(/"?(\w+)\[\d+\]"?/g, "$1[]"));
  try {
    for (const doc of samples) buildConfig(doc, null, {});
  } finally {
    settingRead = null;
  }
  // Tables and arrays of tables are not settings themselves: keep the keys inside them.
  const all = [...found];
  return all.filter((p) => !all.some((q) => q.startsWith(`${p}.`) || q.startsWith(`${p}[]`))).sort();
}
