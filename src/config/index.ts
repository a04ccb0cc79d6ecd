import { ConfigError, Section, type Table, onSettingRead } from "./section.ts";
import { type NotifyEndpoint, readNotify } from "./notify.ts";
import { HOSTNAME_RE, type HostConfig, readHost } from "./hosts.ts";
import { ENV_OVERRIDES, type ServerConfig, type SessionsConfig, readServer, readSessions } from "./server.ts";
import { type DatabaseConfig, readDatabase } from "./database.ts";
import { type AuditConfig, readAudit } from "./audit.ts";
import { type LimitsConfig, readLimits } from "./limits.ts";
import { parse as parseToml } from "smol-toml";
import { readFileSync } from "node:fs";

export interface Config {
  file: string | null;
  server: ServerConfig;
  sessions: SessionsConfig;
  database: DatabaseConfig;
  audit: AuditConfig;
  limits: LimitsConfig;
  hosts: Record<string, HostConfig>;
  notify: NotifyEndpoint[];
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

/** Builds a validated Config from a parsed TOML document. */
export function buildConfig(doc: Table, file: string | null, env: Record<string, string | undefined> = process.env): Config {
  const where = file ?? "built-in defaults";
  const root = new Section(doc, "", where);
  // An empty override (an `Environment=` line with nothing after it) is a mistake, not a way to unset a setting.
  for (const [name, setting] of Object.entries(ENV_OVERRIDES)) {
    if (env[name] === "") throw new ConfigError(`${where}: '${setting}' must not be empty (${name} is set to an empty value)`);
  }

  const { config: serverCfg, listen } = readServer(root, env);
  const sessionsCfg = readSessions(root);
  const dbCfg = readDatabase(root, env);
  const auditCfg = readAudit(root, env);
  const limitsCfg = readLimits(root);

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
    const wildcard = ["127.0.0.1", "::1", "0.0.0.0", "::", "localhost"].includes(listen.hostname);
    const authority = wildcard ? "localhost" : listen.hostname.includes(":") ? `[${listen.hostname}]` : listen.hostname;
    hosts.localhost = readHost("localhost", new Section({ public_url: `http://${authority}:${listen.port}` }, "hosts.localhost", where));
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
  onSettingRead((path) => found.add(path.replace(/^hosts\.(?:sample|localhost)(?=\.|$)/, "hosts.NAME").replace(/"?(\w+)\[\d+\]"?/g, "$1[]")));
  try {
    for (const doc of samples) buildConfig(doc, null, {});
  } finally {
    onSettingRead(null);
  }
  // Tables and arrays of tables are not settings themselves: keep the keys inside them.
  const all = [...found];
  return all.filter((p) => !all.some((q) => q.startsWith(`${p}.`) || q.startsWith(`${p}[]`))).sort();
}

export { ConfigError } from "./section.ts";
export { APP_PLATFORMS, type ClientApp, type HostConfig, type SigninConfig, type UserInvitesConfig } from "./hosts.ts";
export type { EjabberdConfig, LdapConfig, ProvisionConfig } from "./provision.ts";
export { NOTIFY_EVENTS, type NotifyEndpoint, type NotifyEvent } from "./notify.ts";
export { parseListen } from "./section.ts";
export type { ServerConfig, SessionsConfig } from "./server.ts";
export type { DatabaseConfig } from "./database.ts";
export type { AuditConfig } from "./audit.ts";
export type { LimitsConfig } from "./limits.ts";
