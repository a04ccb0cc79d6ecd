// The i18n room on its own: Accept-Language parsing and matching, the link and cookie parameters, message
// formatting (escaping, tags, plurals, relative time) and the checks that guard catalogs and admin overrides.
import { describe, expect, test } from "bun:test";
import { CATALOGS, LANGUAGES, direction, t, type Lang } from "../src/i18n/index.ts";
import { Messages } from "../src/i18n/messages.ts";
import { langCookie, langParam, Negotiator, parseAcceptLanguage } from "../src/i18n/negotiate.ts";
import { catalogProblems, messageProblem, messageShape } from "../src/i18n/check.ts";

describe("Accept-Language", () => {
  test("ranges come out best first by q-value, stable for equal q; q=0, * and junk are dropped", () => {
    expect(parseAcceptLanguage("fr;q=0.9, de-CH;q=0.8, en;q=0.1, *;q=0.5")).toEqual(["fr", "de-CH", "en"]);
    expect(parseAcceptLanguage("en;q=0.5,ja,ar;q=0.5")).toEqual(["ja", "en", "ar"]);
    expect(parseAcceptLanguage("de;q=0, en")).toEqual(["en"]);
    expect(parseAcceptLanguage("")).toEqual([]);
    expect(parseAcceptLanguage(";;;,,,=q")).toEqual([]);
    expect(parseAcceptLanguage("<script>, de\u200b, ja;q=2")).toEqual(["ja"]);
    expect(parseAcceptLanguage("EN-us;Q=0.7")).toEqual(["EN-us"]);
  });

  test("a huge header is cut, and only the first ranges count", () => {
    const huge = Array.from({ length: 5000 }, (_, i) => `x${i % 10}`).join(",");
    const started = performance.now();
    expect(parseAcceptLanguage(huge).length).toBeLessThanOrEqual(16);
    expect(performance.now() - started).toBeLessThan(50);
    expect(parseAcceptLanguage("a".repeat(100_000))).toEqual([]);
  });
});

describe("negotiation", () => {
  const all = new Negotiator(LANGUAGES, "en");
  const choose = (n: Negotiator, header: string | null, query: string | null = null, cookie: string | null = null) => n.choose({ query, cookie, acceptLanguage: header });

  test("Accept-Language picks the best offered language", () => {
    expect(choose(all, null)).toEqual({ lang: "en", source: "default" });
    expect(choose(all, "de-CH,de;q=0.9,en;q=0.5")).toEqual({ lang: "de", source: "header" });
    expect(choose(all, "fr;q=0.4, ja;q=0.8")).toEqual({ lang: "ja", source: "header" });
    expect(choose(all, "pt-PT").lang).toBe("pt-BR");
    expect(choose(all, "pt").lang).toBe("pt-BR");
    expect(choose(all, "zh-CN").lang).toBe("zh-Hans");
    expect(choose(all, "ar-EG,ar;q=0.9").lang).toBe("ar");
    expect(choose(all, "uk-UA").lang).toBe("uk");
    // Traditional Chinese readers do not get Simplified Chinese; nothing offered matches, so the default.
    expect(choose(all, "zh-TW")).toEqual({ lang: "en", source: "default" });
    expect(choose(all, "xx, qq-ZZ")).toEqual({ lang: "en", source: "default" });
    // An unmatched first choice falls through to the next one.
    expect(choose(all, "xx, nl;q=0.5").lang).toBe("nl");
    // CLDR's best fit also knows which language a reader of another one is likely to read: Swahili → English.
    expect(choose(all, "sw")).toEqual({ lang: "en", source: "header" });
  });

  test("only the offered languages, and the site's default", () => {
    const site = new Negotiator(["de", "fr"], "fr");
    expect(choose(site, "ja")).toEqual({ lang: "fr", source: "default" });
    expect(choose(site, "en, de;q=0.1").lang).toBe("de");
    expect(choose(site, null, "ja")).toEqual({ lang: "fr", source: "default" });
    expect(choose(site, null, null, "de")).toEqual({ lang: "de", source: "cookie" });
  });

  test("the link's ?lang= beats the cookie, which beats the header; an unknown value is ignored", () => {
    expect(choose(all, null, "en")).toEqual({ lang: "en", source: "query" });
    expect(choose(all, null, null, "en")).toEqual({ lang: "en", source: "cookie" });
    expect(choose(all, null, "xx-YY", "en")).toEqual({ lang: "en", source: "cookie" });
    expect(choose(all, null, "\"><script>", "%00")).toEqual({ lang: "en", source: "default" });
    expect(choose(all, null, "EN")).toEqual({ lang: "en", source: "query" });
    expect(choose(all, "ja", "de", "fr")).toEqual({ lang: "de", source: "query" });
    expect(choose(all, "ja", null, "fr")).toEqual({ lang: "fr", source: "cookie" });
    expect(choose(all, null, "pt-br")).toEqual({ lang: "pt-BR", source: "query" });
    expect(choose(all, null, "zh-hans")).toEqual({ lang: "zh-Hans", source: "query" });
  });

  test("answers are cached: 100,000 negotiations take well under a second", () => {
    const started = performance.now();
    for (let i = 0; i < 100_000; i++) choose(all, "fr-CA,fr;q=0.9,en;q=0.5", null, i % 2 ? "de" : null);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("the cache is bounded: many distinct headers do not grow it without end", () => {
    for (let i = 0; i < 5000; i++) choose(all, `x-${i}`);
    expect((all as unknown as { cache: Map<string, unknown> }).cache.size).toBeLessThanOrEqual(1000);
  });
});

describe("the link and the cookie", () => {
  test("lang= is read from Prosody's ?TOKEN&lang=xx and from ordinary queries; repeated is ignored", () => {
    expect(langParam("https://x/invite?TOKEN&lang=de")).toBe("de");
    expect(langParam("https://x/register?t=abc&lang=pt-BR")).toBe("pt-BR");
    expect(langParam("https://x/invite?TOKEN")).toBeNull();
    expect(langParam("https://x/invite?lang=de&x=1#lang=fr")).toBe("de");
    expect(langParam("https://x/invite?TOKEN&lang=de&lang=fr")).toBeNull();
    expect(langParam("https://x/invite")).toBeNull();
  });

  test("the lang cookie is found among others", () => {
    expect(langCookie("a=1; lang=ja; b=2")).toBe("ja");
    expect(langCookie("xlang=ja")).toBeNull();
    expect(langCookie(null)).toBeNull();
    expect(langCookie("lang=")).toBe("");
  });
});

describe("messages", () => {
  const m = new Messages("en");

  test("values and text are escaped; tags become their markup; quotes stay as typed", () => {
    expect(m.html("landing_welcome", { host: "<b>x</b>&" }).value).toBe("You're invited to chat on &lt;b&gt;x&lt;/b&gt;&amp;");
    expect(m.html("landing_lead", { host: "a<b" }).value).toContain('<bdi class="addr">a&lt;b</bdi>');
    expect(m.text("landing_welcome_bound", { address: "a@b" })).toBe("Your account a@b is waiting");
  });

  test("plurals come from the library", () => {
    expect(t("en", "apps_count", { count: 1 })).toBe("1 app");
    expect(t("en", "apps_count", { count: 2 })).toBe("2 apps");
    expect(t("en", "fact_uses_left", { left: 1, max: 1 })).toBe("1 of 1 use left");
    expect(t("en", "fact_uses_left", { left: 2, max: 3 })).toBe("2 of 3 uses left");
    expect(t("en", "fact_uses_left_reserved", { left: 1, max: 3, reserved: 2 })).toBe("1 of 3 uses left (2 being used right now)");
  });

  test("durations come from Intl.RelativeTimeFormat", () => {
    expect(m.relative(6 * 86_400_000 + 5000)).toBe("in 6 days");
    expect(m.relative(86_400_000)).toBe("in 1 day");
    expect(m.relative(23 * 3_600_000 + 59 * 60_000)).toBe("in 23 hours");
    expect(m.relative(12 * 60_000)).toBe("in 12 minutes");
    expect(m.relative(40_000)).toBe("in 40 seconds");
    expect(m.relative(10)).toBe("in 1 second");
    expect(m.relativeUp(29 * 60_000 + 1)).toBe("in 30 minutes");
    expect(m.relativeUp(3 * 3_600_000)).toBe("in 3 hours");
    expect(m.relativeUp(1500)).toBe("in 2 seconds");
  });

  test("each message is compiled once per language and kept", () => {
    const mm = new Messages("en");
    mm.text("landing_welcome", { host: "a" });
    const compiled = (mm as unknown as { compiled: Map<string, unknown> }).compiled;
    const first = compiled.get("landing_welcome");
    for (let i = 0; i < 1000; i++) mm.text("landing_welcome", { host: `h${i}` });
    expect(compiled.get("landing_welcome")).toBe(first);
    expect(compiled.size).toBe(1);
  });

  test("results are kept per message and values, bounded, and never mixed up", () => {
    const mm = new Messages("ru");
    expect(mm.text("apps_count", { count: 1 })).toBe("1 приложение");
    expect(mm.text("apps_count", { count: 2 })).toBe("2 приложения");
    expect(mm.text("apps_count", { count: 1 })).toBe("1 приложение");
    expect(mm.html("landing_welcome", { host: "a<b" }).value).toBe("Вас приглашают общаться на a&lt;b");
    expect(mm.text("landing_welcome", { host: "a<b" })).toBe("Вас приглашают общаться на a<b");
    const results = (mm as unknown as { results: Map<string, string> }).results;
    for (let i = 0; i < 5000; i++) mm.text("landing_welcome", { host: `h${i}` });
    expect(results.size).toBeLessThanOrEqual(2000);
    const before = results.size;
    mm.text("landing_welcome", { host: "x".repeat(65) }); // a long value is formatted, not kept
    expect(results.size).toBe(before);
    expect(mm.text("landing_welcome", { host: "x".repeat(65) })).toContain("x".repeat(65));
  });

  test("right-to-left is known by language", () => {
    expect(direction("en")).toBe("ltr");
    expect(direction("ar")).toBe("rtl");
    expect(direction("ja")).toBe("ltr");
  });
});

describe("checks", () => {
  test("a message's shape: arguments with their kinds, and tags", () => {
    const shape = messageShape("{left, number} of {max, plural, one {# use} other {# uses}} <addr>{a}</addr>");
    expect([...shape.args]).toEqual([["left", "number"], ["max", "plural"], ["a", "text"]]);
    expect([...shape.tags]).toEqual(["addr"]);
  });

  test("messageProblem refuses unknown keys, syntax errors, unknown arguments, changed kinds and unknown tags", () => {
    expect(messageProblem("en", "landing_welcome", "Welcome to {host}!")).toBeNull();
    expect(messageProblem("en", "landing_welcome", "Welcome!")).toBeNull();
    expect(messageProblem("en", "no_such_key", "x")).toContain("is not a message key");
    expect(messageProblem("en", "landing_welcome", "Welcome to {host")).toContain("does not parse");
    expect(messageProblem("en", "landing_welcome", "Welcome {user}")).toContain("uses {user}, which this message does not have (it has: {host})");
    expect(messageProblem("en", "apps_count", "{count} apps")).toBeNull();
    expect(messageProblem("en", "fact_uses_left", "{left, plural, one {# left} other {# left}} of {max}")).toBeNull();
    expect(messageProblem("en", "fact_uses_left", "{left, plural, other {# left}} of {max}")).toContain("lacks the form one");
    expect(messageProblem("pl" as Lang, "apps_count", "{count, plural, one {# aplikacja} other {# aplikacji}}")).toContain("lacks the forms many, few");
    expect(messageProblem("en", "landing_welcome", "{host, plural, other {#}}")).toContain("uses {host} as plural, but it is a text");
    expect(messageProblem("en", "landing_welcome", "<script>x</script>")).toContain("the tag <script>");
    expect(messageProblem("en", "landing_welcome", "a\u0000b")).toContain("control characters");
  });

  test("the English catalog passes its own check", () => {
    expect(catalogProblems("en")).toEqual([]);
    expect(Object.keys(CATALOGS.en).length).toBeGreaterThan(80);
  });

  test("catalogProblems finds a missing key, an extra key and a dropped placeholder", () => {
    const broken: Record<string, string> = { ...CATALOGS.en, extra_key: "x", landing_welcome: "Welcome" };
    delete broken.apps_get;
    const problems = catalogProblems("en", broken);
    expect(problems).toContain("en: missing key apps_get");
    expect(problems.some((p) => p.startsWith("en: extra_key is not a message key"))).toBe(true);
    expect(problems).toContain("en: landing_welcome lacks {host}");
  });
});
