// Translated pages: which languages a site offers, which one a request gets, and that language's messages.
// Knows no feature: a "site" is anything with languages, a default and overrides (a host's config has that shape).
import { CATALOGS, direction, LANGUAGES, type Lang, type MessageKey } from "./catalogs.ts";
import { Messages, messagesFor } from "./messages.ts";
import { languageRequest, langSetCookie, Negotiator, type LanguageSource } from "./negotiate.ts";

export { LANGUAGES, CATALOGS, direction, type Lang, type MessageKey, Messages };
export { t } from "./messages.ts";

export interface LanguageSettings {
  languages: readonly Lang[];
  defaultLanguage: Lang;
  messages?: Partial<Record<Lang, Record<string, string>>>;
}

/** The language of one answer: its messages, and the headers that say which it is and what it depends on. */
export interface PageLanguage {
  lang: Lang;
  dir: "ltr" | "rtl";
  m: Messages;
  source: LanguageSource;
  /** Languages the page's picker offers. */
  offered: readonly Lang[];
}

/** The languages of one site (a host, or the pages of no host), with one Messages per language, made once. */
export class SiteLanguages {
  private readonly negotiator: Negotiator;
  private readonly byLang = new Map<Lang, Messages>();

  constructor(private readonly settings: LanguageSettings) {
    this.negotiator = new Negotiator(settings.languages, settings.defaultLanguage);
  }

  get offered(): readonly Lang[] {
    return this.settings.languages;
  }

  messages(lang: Lang): Messages {
    let m = this.byLang.get(lang);
    if (!m) {
      const overrides = this.settings.messages?.[lang];
      m = overrides && Object.keys(overrides).length > 0 ? new Messages(lang, overrides) : messagesFor(lang);
      this.byLang.set(lang, m);
    }
    return m;
  }

  /** `?lang=`, then the `lang` cookie, then Accept-Language, then the site's default. */
  choose(request: Request): PageLanguage {
    const { lang, source } = this.negotiator.choose(languageRequest(request));
    return { lang, dir: direction(lang), m: this.messages(lang), source, offered: this.settings.languages };
  }
}

const sites = new WeakMap<object, SiteLanguages>();

/** The SiteLanguages of a settings object (a host's config), made on first use and kept with it. */
export function siteLanguages(settings: LanguageSettings): SiteLanguages {
  let site = sites.get(settings);
  if (!site) sites.set(settings, (site = new SiteLanguages(settings)));
  return site;
}

/**
 * Pages of no host offer every language some host offers (all, by default), in catalog order, with the server's
 * default language.
 */
export function sharedSettings(hosts: readonly LanguageSettings[], defaultLanguage: Lang): LanguageSettings {
  const offered = new Set<Lang>(hosts.flatMap((h) => h.languages));
  offered.add(defaultLanguage);
  return { languages: LANGUAGES.filter((l) => offered.has(l)), defaultLanguage };
}

/**
 * Headers every translated answer carries. The answer depends on Accept-Language and the cookie, so caches must
 * key on them; a language picked by `?lang=` is remembered in the cookie.
 */
export function languageHeaders(page: PageLanguage, vary: string[] = []): Record<string, string> {
  const headers: Record<string, string> = { "Content-Language": page.lang, Vary: [...vary, "Accept-Language", "Cookie"].join(", ") };
  if (page.source === "query") headers["Set-Cookie"] = langSetCookie(page.lang);
  return headers;
}

/** One language, no choice: a page whose text is not in the catalogs yet says honestly which language it is in. */
export function fixedLanguage(lang: Lang): PageLanguage {
  return { lang, dir: direction(lang), m: messagesFor(lang), source: "default", offered: [lang] };
}

/** The catalog's name of a language in that language ("Deutsch"), for the picker. */
export function languageName(lang: Lang): string {
  return CATALOGS[lang].language_name;
}
