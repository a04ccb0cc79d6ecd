// `[server]` and `[sessions]`: listening, fixed paths, proxies, the members' sessions; and the check that every page
// has a path of its own.
import { type Env, Section, httpUrl, language, parseListen, path_ } from "./section.ts";
import { parseAddressList } from "../lib/ip.ts";
import type { Lang } from "../i18n/catalogs.ts";



// The environment variables that override one setting each (README: "Environment overrides").
export const ENV_OVERRIDES: Record<string, string> = {
  INVITED_LISTEN: "server.listen",
  INVITED_TRUSTED_PROXIES: "server.trusted_proxies",
  INVITED_DATABASE: "database.path",
  INVITED_PUBLIC_URL: "hosts.*.public_url",
  INVITED_GEOIP_DATABASE: "audit.geoip_database",
};

/** " (from INVITED_X)" when an environment variable supplied the value, so an error does not blame the file. */
export function fromEnv(env: Record<string, string | undefined>, name: string): string {
  return env[name] !== undefined ? ` (from ${name})` : "";
}

export interface ServerConfig {
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
}

/** `[server]`: where and how invited listens, its fixed paths, and who may reach what. */
export function readServer(root: Section, env: Env): { config: ServerConfig; listen: { hostname: string; port: number } } {
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
  const serverCfg: ServerConfig = {
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

  return { config: serverCfg, listen: listen! };
}

export interface SessionsConfig {
  /** A session unused this long ends. */
  idleTimeout: number;
  /** A session ends this long after sign-in, however busy. */
  lifetime: number;
}

/** `[sessions]`: how long a member stays signed in. */
export function readSessions(root: Section): SessionsConfig {
  const sessions = root.table_("sessions");
  const sessionsCfg: SessionsConfig = { idleTimeout: sessions.duration("idle_timeout", "1h"), lifetime: sessions.duration("lifetime", "7d") };
  if (sessionsCfg.idleTimeout < 60_000) sessions.fail("idle_timeout", "must be at least 1m");
  if (sessionsCfg.lifetime < sessionsCfg.idleTimeout) sessions.fail("lifetime", "must not be shorter than idle_timeout");
  if (sessionsCfg.lifetime > 400 * 86_400_000) sessions.fail("lifetime", "must be at most 400d (browsers cap cookies there)");
  sessions.done();

  return sessionsCfg;
}
