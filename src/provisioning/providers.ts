import type { Logger } from "../lib/log.ts";
import type { HostConfig } from "../config/index.ts";
import { CommandProvider } from "./command.ts";
import { WebhookProvider } from "./webhook.ts";
import { EjabberdProvider } from "./ejabberd.ts";
import { LdapProvider } from "./ldap.ts";
import type { Provider } from "./types.ts";

export type { AccountTarget, LifecycleOperation, LifecycleOutcome, Provider, ProvisionOutcome, ProvisionRequest } from "./types.ts";

/** The host's downstream account system, or null when its accounts live in invited alone (type = "none"). */
export function providerFor(host: HostConfig, log: Logger): Provider | null {
  const cfg = host.provision;
  if (cfg.type === "webhook") return new WebhookProvider(cfg);
  if (cfg.type === "command") return new CommandProvider(cfg, log);
  if (cfg.type === "ejabberd") return new EjabberdProvider(cfg);
  if (cfg.type === "ldap") return new LdapProvider(cfg);
  return null;
}

/**
 * The host's downstream password check, for sign-in to the user pages, when its provider can make one (LDAP: a
 * bind as the user). null: the provider has no such check.
 */
export function passwordCheckerFor(host: HostConfig): ((username: string, password: string) => ReturnType<LdapProvider["verifyPassword"]>) | null {
  if (host.provision.type !== "ldap") return null;
  const p = new LdapProvider(host.provision);
  return (username, password) => p.verifyPassword(username, password);
}
