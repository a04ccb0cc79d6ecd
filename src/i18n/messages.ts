import { IntlMessageFormat } from "intl-messageformat";
import { RawHtml } from "../lib/html.ts";
import { CATALOGS, direction, type Lang, type MessageKey } from "./catalogs.ts";

export type Values = Record<string, string | number>;

const MAX_RESULTS = 2000;
const MAX_CACHED_VALUE = 64;

/**
 * The markup a message may carry, as ICU tags (`<addr>{host}</addr>`): a translator moves the tag with the words,
 * never writes HTML. Anything inside is escaped; an address is isolated so it keeps its own direction in Arabic.
 */
const TAGS: Record<string, (inner: string) => string> = {
  addr: (inner) => `<bdi class="addr">${inner}</bdi>`,
  b: (inner) => `<b>${inner}</b>`,
};
export const MESSAGE_TAGS: readonly string[] = Object.keys(TAGS);

/** Text content needs only &, < and > escaped (quotes stay as typed, "You're"). */
function escapeText(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : "&gt;"));
}

type Part = string | RawHtml;
const partToHtml = (p: unknown): string => (p instanceof RawHtml ? p.value : escapeText(String(p)));
const HTML_TAG_FNS = Object.fromEntries(
  Object.entries(TAGS).map(([name, wrap]) => [name, (chunks: Part[]) => new RawHtml(wrap(chunks.map(partToHtml).join("")))]),
);
const TEXT_TAG_FNS = Object.fromEntries(MESSAGE_TAGS.map((name) => [name, (chunks: Part[]) => chunks.join("")]));

/** Compiles a message (throws on a syntax error); `formatters` are shared so Intl objects are made once per locale. */
export function compileMessage(text: string, lang: string): IntlMessageFormat {
  return new IntlMessageFormat(text, lang);
}

/**
 * One language's messages, each compiled once on first use and kept: formatting a page costs the formatting only.
 * `overrides` are a host's own texts for some keys (checked when the config was read).
 */
export class Messages {
  readonly dir: "ltr" | "rtl";
  private readonly compiled = new Map<MessageKey, IntlMessageFormat>();
  private readonly relativeTime: Intl.RelativeTimeFormat;

  constructor(
    readonly lang: Lang,
    private readonly overrides: Partial<Record<string, string>> = {},
  ) {
    this.dir = direction(lang);
    this.relativeTime = new Intl.RelativeTimeFormat(lang, { numeric: "always" });
  }

  private message(key: MessageKey): IntlMessageFormat {
    let mf = this.compiled.get(key);
    if (!mf) {
      mf = compileMessage(this.overrides[key] ?? CATALOGS[this.lang][key], this.lang);
      this.compiled.set(key, mf);
    }
    return mf;
  }

  /**
   * Formatting is pure (message, language, values → text), and a page asks for the same few results again and
   * again ("3 apps", a host's welcome line, a static sentence): intl-messageformat takes microseconds per plural,
   * so results are kept, keyed by message and values. Bounded: it starts over when full, and long values (a
   * username, a field name someone sent) are formatted without being kept.
   */
  private readonly results = new Map<string, string>();

  private cached(mode: "t" | "h", key: MessageKey, values: Values | undefined, format: () => string): string {
    let id = `${mode}${key}`;
    if (values) {
      for (const k in values) {
        const v = values[k];
        if (typeof v === "string" && v.length > MAX_CACHED_VALUE) return format();
        id += `\u0000${k}\u0000${v}`;
      }
    }
    let out = this.results.get(id);
    if (out === undefined) {
      out = format();
      if (this.results.size >= MAX_RESULTS) this.results.clear();
      this.results.set(id, out);
    }
    return out;
  }

  /** Plain text, for titles and attributes (the caller's html`` escapes it). */
  text(key: MessageKey, values?: Values): string {
    return this.cached("t", key, values, () => {
      const out = this.message(key).format<string>({ ...TEXT_TAG_FNS, ...values } as never);
      return Array.isArray(out) ? out.join("") : String(out);
    });
  }

  /** Element content: the message's text and values escaped, its tags turned into their markup. */
  html(key: MessageKey, values?: Values): RawHtml {
    return new RawHtml(
      this.cached("h", key, values, () => {
        const out = this.message(key).format<Part>({ ...HTML_TAG_FNS, ...values } as never);
        return Array.isArray(out) ? out.map(partToHtml).join("") : partToHtml(out);
      }),
    );
  }

  private dateTimeFormat: Intl.DateTimeFormat | null = null;

  /** A moment as people of this language write it, in UTC (a page knows no time zone without JavaScript). */
  dateTime(ms: number): string {
    this.dateTimeFormat ??= new Intl.DateTimeFormat(this.lang, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" });
    return `${this.dateTimeFormat.format(ms)} UTC`;
  }

  private regionNames: Intl.DisplayNames | null = null;

  /** A country's name in this language, from its ISO code (Intl.DisplayNames); null for an unknown code. */
  country(code: string): string | null {
    this.regionNames ??= new Intl.DisplayNames(this.lang, { type: "region", fallback: "none" });
    try {
      return this.regionNames.of(code.toUpperCase()) ?? null;
    } catch {
      return null;
    }
  }

  private readonly durations = new Map<string, string>();

  /** Intl.RelativeTimeFormat, kept per (amount, unit): a few hundred distinct answers at most. */
  private inUnits(n: number, unit: Intl.RelativeTimeFormatUnit): string {
    const id = `${n}${unit}`;
    let out = this.durations.get(id);
    if (out === undefined) {
      out = this.relativeTime.format(n, unit);
      if (this.durations.size >= MAX_RESULTS) this.durations.clear();
      this.durations.set(id, out);
    }
    return out;
  }

  /** "in 6 days", "in 3 hours", "in 12 minutes", "in 40 seconds", in this language, rounded down to the unit. */
  relative(ms: number): string {
    const units: [number, Intl.RelativeTimeFormatUnit][] = [
      [86_400_000, "day"],
      [3_600_000, "hour"],
      [60_000, "minute"],
    ];
    for (const [size, unit] of units) {
      const n = Math.floor(ms / size);
      if (n >= 1) return this.inUnits(n, unit);
    }
    return this.inUnits(Math.max(1, Math.floor(ms / 1000)), "second");
  }

  /** Like relative(), rounded up: when someone may try again. */
  relativeUp(ms: number): string {
    if (ms < 60_000) return this.inUnits(Math.max(1, Math.ceil(ms / 1000)), "second");
    const minutes = Math.ceil(ms / 60_000);
    if (minutes < 90) return this.inUnits(minutes, "minute");
    return this.inUnits(Math.round(minutes / 60), "hour");
  }
}

const shared = new Map<Lang, Messages>();

/** The catalog's own messages for a language, shared by every host without overrides. */
export function messagesFor(lang: Lang): Messages {
  let m = shared.get(lang);
  if (!m) shared.set(lang, (m = new Messages(lang)));
  return m;
}

/** `t(lang, key, values)`: one message as plain text. */
export function t(lang: Lang, key: MessageKey, values?: Values): string {
  return messagesFor(lang).text(key, values);
}
