// `[hosts."NAME".provision]`: how a host's accounts reach the real server (command, webhook, ejabberd, LDAP).
import { Section, httpUrl, isLoopbackHost, isTable, readSecrets, secretFile } from "./section.ts";
import { readFileSync } from "node:fs";

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

export const ARG_PLACEHOLDERS = ["username", "host", "groups", "roles"];

/** Checks the {placeholders} of a command argument or the stdin template. */
export function checkPlaceholders(s: Section, key: string, text: string, allowed: string[]): void {
  for (const m of text.matchAll(/\{([A-Za-z_]*)\}/g)) {
    if (m[1] === "password" && !allowed.includes("password"))
      s.fail(key, "must not contain {password}: the password is only ever passed on stdin (see 'stdin')");
    if (!allowed.includes(m[1]!)) s.fail(key, `has an unknown placeholder {${m[1]}} (known: ${allowed.map((a) => `{${a}}`).join(" ")})`);
  }
}

export function readProvision(s: Section): ProvisionConfig {
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

export function finish(s: Section, p: ProvisionConfig): ProvisionConfig {
  s.done();
  return p;
}

/** The settings every built-in provider shares. */
export function baseProvision(s: Section, type: "ejabberd" | "ldap"): ProvisionConfig {
  const p: ProvisionConfig = { type, secrets: [], stdin: "", timeout: s.duration("timeout", "10s"), keepPassword: s.bool("keep_password", false), takenExitCode: null };
  if (p.timeout < 100 || p.timeout > 600_000) s.fail("timeout", "must be between 100ms and 10m");
  return p;
}

export function readEjabberd(s: Section): EjabberdConfig {
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

export const LDAP_ATTR_RE = /^[A-Za-z][A-Za-z0-9-]*$/;

export function readLdap(s: Section): LdapConfig {
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
