// The message catalogs, one ICU MessageFormat file per language. Imported as JSON modules so `bun build --compile`
// embeds them in the binary: no file is read at run time.
import en from "./catalogs/en.json" with { type: "json" };
import de from "./catalogs/de.json" with { type: "json" };
import fr from "./catalogs/fr.json" with { type: "json" };
import es from "./catalogs/es.json" with { type: "json" };
import it from "./catalogs/it.json" with { type: "json" };
import nl from "./catalogs/nl.json" with { type: "json" };
import ptBR from "./catalogs/pt-BR.json" with { type: "json" };
import pl from "./catalogs/pl.json" with { type: "json" };
import ru from "./catalogs/ru.json" with { type: "json" };
import uk from "./catalogs/uk.json" with { type: "json" };
import ja from "./catalogs/ja.json" with { type: "json" };
import zhHans from "./catalogs/zh-Hans.json" with { type: "json" };
import ar from "./catalogs/ar.json" with { type: "json" };

/** Every key a page may ask for: the English catalog is the reference every other catalog must match. */
export type MessageKey = keyof typeof en;
export type Catalog = Record<MessageKey, string>;

/** Languages with a catalog, in the order the language picker lists them (BCP 47 tags, as sent in Content-Language). */
export const LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt-BR", "pl", "ru", "uk", "ja", "zh-Hans", "ar"] as const;
export type Lang = (typeof LANGUAGES)[number];

// Typed as Record<string, string> on the way in: a missing or extra key is caught by the catalog check
// (`npm run i18n:check`, test/i18n-catalogs.test.ts), which names it, rather than by the compiler.
export const CATALOGS: Record<Lang, Catalog> = {
  en,
  de: de as Record<string, string> as Catalog,
  fr: fr as Record<string, string> as Catalog,
  es: es as Record<string, string> as Catalog,
  it: it as Record<string, string> as Catalog,
  nl: nl as Record<string, string> as Catalog,
  "pt-BR": ptBR as Record<string, string> as Catalog,
  pl: pl as Record<string, string> as Catalog,
  ru: ru as Record<string, string> as Catalog,
  uk: uk as Record<string, string> as Catalog,
  ja: ja as Record<string, string> as Catalog,
  "zh-Hans": zhHans as Record<string, string> as Catalog,
  ar: ar as Record<string, string> as Catalog,
};

/** Scripts written right to left, by language (the `dir` of <html>). */
const RTL: ReadonlySet<string> = new Set(["ar", "he", "fa", "ur"]);

export function isLang(tag: string): tag is Lang {
  return (LANGUAGES as readonly string[]).includes(tag);
}

export function direction(lang: Lang): "ltr" | "rtl" {
  return RTL.has(lang.split("-")[0]!) ? "rtl" : "ltr";
}

export const MESSAGE_KEYS = Object.keys(en) as MessageKey[];

export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(en, key);
}
