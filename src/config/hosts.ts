// `[hosts."NAME"]`: each host's links, pages, username and password rules, languages, sign-in and member invites.
import { Section, describe, durationOrZero, httpUrl, isTable, language, optionalHttpUrl, parseListen, path_, readSecrets, shortText } from "./section.ts";
import { type ProvisionConfig, checkPlaceholders, readProvision } from "./provision.ts";
import { statSync } from "node:fs";
import { BUILTIN_LOGOS, LOGO_TYPES } from "../pages/logos.ts";
import { LANGUAGES, type Lang, isLang } from "../i18n/catalogs.ts";
import { messageProblem } from "../i18n/check.ts";

export interface ClientApp {
  name: string;
  platforms: string[];
  url: string;
  logo?: string;
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

export const HOSTNAME_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

export function readHost(name: string, s: Section): HostConfig {
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

/** `languages`, `default_language` and `[hosts.NAME.messages.LANG]` of a host. */
export function readLanguages(s: Section): Pick<HostConfig, "languages" | "defaultLanguage" | "messages"> {
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

export const NO_SIGNIN: SigninConfig = { type: "none", server: null, tls: "starttls", verifyCommand: null, stdin: "{password}\n", url: null, secrets: [], timeout: 10_000 };

export function readSignin(s: Section, provision: ProvisionConfig): SigninConfig {
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

export function readUserInvites(s: Section): UserInvitesConfig {
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
export function readReserved(hostName: string, s: Section): string[] {
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

/** `contact`: an address people can write to (user@host) or a link (http, https, mailto, xmpp). */
export function readContact(s: Section): string | null {
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

export function readApps(s: Section): ClientApp[] | null {
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

export function readAppRegistration(s: Section): "auto" | boolean {
  const v = s.raw_("app_registration");
  if (v === undefined || v === "auto") return "auto";
  if (typeof v === "boolean") return v;
  s.fail("app_registration", `must be "auto", true or false, got ${describe(v)}`);
}

/** `prosody_roles`: which invite roles reach Prosody through mod_invited. prosody:admin is refused outright. */
export function readProsodyRoles(s: Section): string[] {
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
export function checkLogo(a: Section, logo: string): void {
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
