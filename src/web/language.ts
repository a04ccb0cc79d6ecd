import type { AppContext } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { sharedSettings, siteLanguages, type SiteLanguages } from "../i18n/index.ts";

/**
 * The languages of a page: its host's, or for a page of no host (a dead link on a path several hosts share) every
 * language some host offers, in the server's default language.
 */
export function languagesOf(ctx: AppContext, host: HostConfig | null): SiteLanguages {
  if (host) return siteLanguages(host);
  let shared = sharedByConfig.get(ctx.config);
  if (!shared) {
    shared = siteLanguages(sharedSettings(Object.values(ctx.config.hosts), ctx.config.server.defaultLanguage));
    sharedByConfig.set(ctx.config, shared);
  }
  return shared;
}
const sharedByConfig = new WeakMap<object, SiteLanguages>();
