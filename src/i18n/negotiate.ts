import { match } from "@formatjs/intl-localematcher";
import { isLang, LANGUAGES, type Lang } from "./catalogs.ts";

// A header longer than this is cut (at a comma): no browser sends more, and matching stays cheap.
const MAX_HEADER = 512;
const MAX_RANGES = 16;
const TAG = /^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$/;

/** Accept-Language → language ranges, best first (q-values, stable for equal q); `*` and q=0 are dropped. */
export function parseAcceptLanguage(header: string): string[] {
  let text = header;
  if (text.length > MAX_HEADER) text = text.slice(0, Math.max(0, text.lastIndexOf(",", MAX_HEADER)));
  const ranges: { tag: string; q: number; i: number }[] = [];
  for (const [i, item] of text.split(",").entries()) {
    if (ranges.length >= MAX_RANGES) break;
    const [rawTag, ...params] = item.split(";");
    const tag = rawTag!.trim();
    if (!TAG.test(tag)) continue;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p);
      if (m) q = Math.min(1, Number(m[1]));
    }
    if (q > 0) ranges.push({ tag, q, i });
  }
  return ranges.sort((a, b) => b.q - a.q || a.i - b.i).map((r) => r.tag);
}

/** Best language among `offered` for requested tags, or null. CLDR's "best fit": de-CH → de, pt-PT → pt-BR, zh-CN → zh-Hans. */
function bestMatch(requested: string[], offered: readonly Lang[]): Lang | null {
  if (requested.length === 0) return null;
  try {
    // The matcher answers the default when nothing fits; an impossible default tells that apart.
    const found = match(requested, offered as string[], "und", { algorithm: "best fit" });
    return isLang(found) && offered.includes(found) ? found : null;
  } catch {
    return null; // a tag Intl refuses (e.g. a malformed extension)
  }
}

export type LanguageSource = "query" | "cookie" | "header" | "default";

export interface LanguageChoice {
  lang: Lang;
  source: LanguageSource;
}

/** Where a request says what language it wants. */
export interface LanguageRequest {
  /** `lang=` of the URL's query, if any. */
  query: string | null;
  /** The `lang` cookie, if any. */
  cookie: string | null;
  acceptLanguage: string | null;
}

const CACHE_SIZE = 1000;

/**
 * Picks one language among a fixed offer: `?lang=` first, then the `lang` cookie, then Accept-Language, then the
 * default. Answers for a header or a tag are cached (browsers send few distinct headers), so a page view costs a
 * Map lookup; the cache is bounded and starts over when full.
 */
export class Negotiator {
  private readonly cache = new Map<string, Lang | null>();

  constructor(
    readonly offered: readonly Lang[],
    readonly fallback: Lang,
  ) {}

  private cached(key: string, compute: () => Lang | null): Lang | null {
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const v = compute();
    if (this.cache.size >= CACHE_SIZE) this.cache.clear();
    this.cache.set(key, v);
    return v;
  }

  /** One tag from a link or the cookie: exact (case-insensitive), else the best fit (`?lang=pt` → pt-BR). */
  tag(value: string | null): Lang | null {
    if (!value || value.length > 35 || !TAG.test(value)) return null;
    return this.cached(`t:${value}`, () => bestMatch([value], this.offered));
  }

  header(value: string | null): Lang | null {
    if (!value) return null;
    return this.cached(`h:${value}`, () => bestMatch(parseAcceptLanguage(value), this.offered));
  }

  choose(r: LanguageRequest): LanguageChoice {
    const fromQuery = this.tag(r.query);
    if (fromQuery) return { lang: fromQuery, source: "query" };
    const fromCookie = this.tag(r.cookie);
    if (fromCookie) return { lang: fromCookie, source: "cookie" };
    const fromHeader = this.header(r.acceptLanguage);
    if (fromHeader) return { lang: fromHeader, source: "header" };
    return { lang: this.fallback, source: "default" };
  }
}

/** The `lang=` parameter of a URL's query. Works on `?TOKEN&lang=de` too, where the rest is not key=value. */
export function langParam(url: string): string | null {
  const q = url.indexOf("?");
  if (q < 0) return null;
  const hash = url.indexOf("#", q);
  const query = hash < 0 ? url.slice(q + 1) : url.slice(q + 1, hash);
  let found: string | null = null;
  for (const part of query.split("&")) {
    if (part.startsWith("lang=")) {
      if (found !== null) return null; // repeated: ambiguous, ignore both
      found = part.slice(5);
    }
  }
  return found;
}

/** The `lang` cookie's value. */
export function langCookie(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === "lang") return part.slice(eq + 1).trim();
  }
  return null;
}

export function languageRequest(request: Request): LanguageRequest {
  return {
    query: langParam(request.url),
    cookie: langCookie(request.headers.get("cookie")),
    acceptLanguage: request.headers.get("accept-language"),
  };
}

/** A year; Path=/ so every page of every host on this origin shares the choice. */
export function langSetCookie(lang: Lang): string {
  return `lang=${lang}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly`;
}

export { LANGUAGES };
