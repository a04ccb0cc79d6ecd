import { IntlMessageFormat } from "intl-messageformat";
import { RawHtml } from "../lib/html.ts";
import { CATALOGS, direction, type Lang, type MessageKey } from "./catalogs.ts";

export type Values = Record<string, string | number>;

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

  /** Plain text, for titles and attributes (the caller's html`` escapes it). */
  text(key: MessageKey, values?: Values): string {
    const out = this.message(key).format<string>({ ...TEXT_TAG_FNS, ...values } as never);
    return Array.isArray(out) ? out.join("") : String(out);
  }

  /** Element content: the message's text and values escaped, its tags turned into their markup. */
  html(key: MessageKey, values?: Values): RawHtml {
    const out = this.message(key).format<Part>({ ...HTML_TAG_FNS, ...values } as never);
    return new RawHtml(Array.isArray(out) ? out.map(partToHtml).join("") : partToHtml(out));
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
      if (n >= 1) return this.relativeTime.format(n, unit);
    }
    return this.relativeTime.format(Math.max(1, Math.floor(ms / 1000)), "second");
  }

  /** Like relative(), rounded up: when someone may try again. */
  relativeUp(ms: number): string {
    if (ms < 60_000) return this.relativeTime.format(Math.max(1, Math.ceil(ms / 1000)), "second");
    const minutes = Math.ceil(ms / 60_000);
    if (minutes < 90) return this.relativeTime.format(minutes, "minute");
    return this.relativeTime.format(Math.round(minutes / 60), "hour");
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
