import type { Logger } from "../lib/log.ts";
import type { HostConfig } from "../config/index.ts";
import { CommandProvider } from "./command.ts";
import { WebhookProvider } from "./webhook.ts";
import { EjabberdProvider } from "./ejabberd.ts";
import type { Provider } from "./types.ts";

export type { AccountTarget, LifecycleOperation, LifecycleOutcome, Provider, ProvisionOutcome, ProvisionRequest } from "./types.ts";

/** The host's downstream account system, or null when its accounts live in invited alone (type = "none"). */
export function providerFor(host: HostConfig, log: Logger): Provider | null {
  const cfg = host.provision;
  if (cfg.type === "webhook") return new WebhookProvider(cfg);
  if (cfg.type === "command") return new CommandProvider(cfg, log);
  if (cfg.type === "ejabberd") return new EjabberdProvider(cfg);
  return null;
}
