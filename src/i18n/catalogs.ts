// The message catalogs, one ICU MessageFormat file per language. Imported as JSON modules so `bun build --compile`
// embeds them in the binary: no file is read at run time.
import en from "./catalogs/en.json" with { type: "json" };

/** Every key a page may ask for: the English catalog is the reference every other catalog must match. */
export type MessageKey = keyof typeof en;
export type Catalog = Record<MessageKey, string>;

/** Languages with a catalog, in the order the language picker lists them (BCP 47 tags, as sent in Content-Language). */
export const LANGUAGES = ["en"] as const;
export type Lang = (typeof LANGUAGES)[number];

export const CATALOGS: Record<Lang, Catalog> = { en };

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
