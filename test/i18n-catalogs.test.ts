// The 13 catalogs: complete, with English's placeholders (compared on the parsed ICU AST), every plural form each
// language needs, plural forms that read right for the numbers where languages differ, and every page rendered
// in every language over real HTTP.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CATALOGS, LANGUAGES, direction, t, type Lang } from "../src/i18n/index.ts";
import { catalogProblems, messageShape } from "../src/i18n/check.ts";
import { localizedStoreUrl } from "../src/pages/apps.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { makeFixtures, renderAllPages, renderThrottled, visibleTexts, type PageFixtures } from "./i18n-helpers.ts";

describe("catalogs", () => {
  test("at least 13 languages, one of them right to left", () => {
    expect(LANGUAGES.length).toBeGreaterThanOrEqual(13);
    for (const l of ["en", "de", "fr", "es", "it", "nl", "pt-BR", "pl", "ru", "uk", "ja", "zh-Hans", "ar"]) expect(LANGUAGES as readonly string[]).toContain(l);
    expect(LANGUAGES.filter((l) => direction(l) === "rtl")).toEqual(["ar"]);
  });

  for (const lang of LANGUAGES) {
    test(`${lang}: every English key, the same placeholders and tags, every plural form, nothing extra`, () => {
      expect(catalogProblems(lang)).toEqual([]);
      for (const [key, text] of Object.entries(CATALOGS.en)) {
        const mine = messageShape(CATALOGS[lang][key as keyof typeof CATALOGS.en]);
        expect(`${key}: ${[...mine.args.keys()].sort()}`).toBe(`${key}: ${[...messageShape(text).args.keys()].sort()}`);
      }
    });
  }

  test("a translation is a translation: no non-English catalog is a copy of English", () => {
    for (const lang of LANGUAGES.filter((l) => l !== "en")) {
      const same = Object.keys(CATALOGS.en).filter((k) => CATALOGS[lang][k as keyof typeof CATALOGS.en] === CATALOGS.en[k as keyof typeof CATALOGS.en]);
      // A few words are the same in some languages (Web, Password and Account in Italian, Invitation in French,
      // "{city}, {country}"): at most one message in twenty.
      const allowed = Math.ceil(Object.keys(CATALOGS.en).length / 20);
      expect(`${lang}: ${same.length > allowed ? same.join(", ") : "ok"}`).toBe(`${lang}: ok`);
    }
  });
});

describe("plural forms", () => {
  const NUMBERS = [0, 1, 2, 5, 11, 21, 22, 25, 101];
  const expected: Record<string, Record<number, string>> = {
    pl: { 0: "0 aplikacji", 1: "1 aplikacja", 2: "2 aplikacje", 5: "5 aplikacji", 11: "11 aplikacji", 21: "21 aplikacji", 22: "22 aplikacje", 25: "25 aplikacji", 101: "101 aplikacji" },
    ru: { 0: "0 приложений", 1: "1 приложение", 2: "2 приложения", 5: "5 приложений", 11: "11 приложений", 21: "21 приложение", 22: "22 приложения", 25: "25 приложений", 101: "101 приложение" },
    uk: { 0: "0 застосунків", 1: "1 застосунок", 2: "2 застосунки", 5: "5 застосунків", 11: "11 застосунків", 21: "21 застосунок", 22: "22 застосунки", 25: "25 застосунків", 101: "101 застосунок" },
    ar: { 0: "لا توجد تطبيقات", 1: "تطبيق واحد", 2: "تطبيقان", 5: "5 تطبيقات", 11: "11 تطبيقًا", 21: "21 تطبيقًا", 22: "22 تطبيقًا", 25: "25 تطبيقًا", 101: "101 تطبيق" },
    en: { 0: "0 apps", 1: "1 app", 2: "2 apps", 5: "5 apps", 11: "11 apps", 21: "21 apps", 22: "22 apps", 25: "25 apps", 101: "101 apps" },
    ja: { 0: "0 個のアプリ", 1: "1 個のアプリ", 2: "2 個のアプリ", 5: "5 個のアプリ", 11: "11 個のアプリ", 21: "21 個のアプリ", 22: "22 個のアプリ", 25: "25 個のアプリ", 101: "101 個のアプリ" },
  };
  for (const [lang, forms] of Object.entries(expected)) {
    test(`${lang}: "N apps" for ${NUMBERS.join(", ")}`, () => {
      expect(NUMBERS.map((n) => t(lang as Lang, "apps_count", { count: n }))).toEqual(NUMBERS.map((n) => forms[n]!));
    });
  }

  test("the uses left on an invite agree with the number in Polish, Russian, Ukrainian and Arabic", () => {
    const left = (lang: Lang, n: number) => t(lang, "fact_uses_left", { left: n, max: 200 });
    expect([1, 2, 5, 22, 25].map((n) => left("pl", n))).toEqual(["Zostało 1 użycie z 200", "Zostały 2 użycia z 200", "Zostało 5 użyć z 200", "Zostały 22 użycia z 200", "Zostało 25 użyć z 200"]);
    expect([1, 2, 5, 21].map((n) => left("ru", n))).toEqual(["Осталось 1 использование из 200", "Осталось 2 использования из 200", "Осталось 5 использований из 200", "Осталось 21 использование из 200"]);
    expect([1, 5, 11].map((n) => left("uk", n))).toEqual(["Залишилося 1 використання з 200", "Залишилося 5 використань з 200", "Залишилося 11 використань з 200"]);
    expect([0, 1, 2, 3, 11, 100].map((n) => left("ar", n))).toEqual([
      "لم يتبقَّ أي استخدام من أصل 200",
      "تبقّى استخدام واحد من أصل 200",
      "تبقّى استخدامان من أصل 200",
      "تبقّت 3 استخدامات من أصل 200",
      "تبقّى 11 استخدامًا من أصل 200",
      "تبقّى 100 استخدام من أصل 200",
    ]);
  });

  test("password lengths in the hint: Polish and Russian agree with 2, 5 and 22", () => {
    expect([2, 5, 22].map((n) => t("pl", "form_password_hint", { min: n }).split(",")[0])).toEqual(["Co najmniej 2 znaki", "Co najmniej 5 znaków", "Co najmniej 22 znaki"]);
    expect([1, 2, 5].map((n) => t("ru", "error_password_too_short", { min: n }))).toEqual([
      "Пароль должен содержать не меньше 1 символа.",
      "Пароль должен содержать не меньше 2 символов.",
      "Пароль должен содержать не меньше 5 символов.",
    ]);
  });

  test("durations in the page's language come from Intl", () => {
    expect(t("de", "fact_expires", { when: new Intl.RelativeTimeFormat("de").format(6, "day") })).toBe("Läuft in 6 Tagen ab");
    expect(t("ja", "fact_expires", { when: new Intl.RelativeTimeFormat("ja").format(6, "day") })).toBe("6 日後に期限切れ");
  });
});

describe("every language renders every page", () => {
  let sb: Sandbox;
  let server: TestServer;
  let fx: PageFixtures;
  beforeAll(async () => {
    sb = sandbox();
    server = await startServer(sb);
    fx = await makeFixtures(sb, server);
  });
  afterAll(async () => {
    await server?.stop();
    sb?.cleanup();
  });

  for (const lang of LANGUAGES) {
    test(`${lang}`, async () => {
      const pages = await renderAllPages(sb, server, fx, lang);
      const english = lang === "en" ? null : new Set(Object.values(CATALOGS.en));
      for (const { page, expect: status } of pages) {
        expect(`${page.name}: ${page.status}`).toBe(`${page.name}: ${status}`);
        expect(`${page.name}: ${page.headers.get("content-language")}`).toBe(`${page.name}: ${lang}`);
        expect(page.body).toContain(`<html lang="${lang}" dir="${direction(lang)}">`);
        const texts = visibleTexts(page.body);
        // No ICU syntax left over, and no whole English sentence.
        for (const text of texts) {
          expect(`${page.name}: ${text}`).not.toMatch(/[{}]/);
          if (english && text.length > 12) expect(`${page.name}: ${english.has(text) ? "English: " : ""}${text}`).toBe(`${page.name}: ${text}`);
        }
      }
    }, 60_000);
  }

  test("the throttled page in Arabic", async () => {
    const page = await renderThrottled("ar");
    expect(page.status).toBe(429);
    expect(page.headers.get("content-language")).toBe("ar");
    expect(page.body).toContain('<html lang="ar" dir="rtl">');
    expect(page.body).toContain("خلال 60 دقيقة");
  });
});

describe("client apps", () => {
  test("store pages in the reader's language where the store has them; other links unchanged", () => {
    expect(localizedStoreUrl("https://f-droid.org/packages/de.monocles.chat/", "pt-BR")).toBe("https://f-droid.org/pt_BR/packages/de.monocles.chat/");
    expect(localizedStoreUrl("https://f-droid.org/en/packages/x/", "ja")).toBe("https://f-droid.org/ja/packages/x/");
    expect(localizedStoreUrl("https://f-droid.org/packages/x/", "en")).toBe("https://f-droid.org/packages/x/");
    expect(localizedStoreUrl("https://play.google.com/store/apps/details?id=eu.siacs.conversations", "uk")).toBe("https://play.google.com/store/apps/details?id=eu.siacs.conversations&hl=uk");
    expect(localizedStoreUrl("https://play.google.com/store/apps/details?id=x&hl=en", "de")).toBe("https://play.google.com/store/apps/details?id=x&hl=de");
    expect(localizedStoreUrl("https://conversations.im/", "de")).toBe("https://conversations.im/");
    expect(localizedStoreUrl("https://apps.apple.com/us/app/monal/id317711500", "de")).toBe("https://apps.apple.com/us/app/monal/id317711500");
  });
});

describe("npm run i18n:check", () => {
  const run = async (args: string[], env: Record<string, string> = {}) => {
    const proc = Bun.spawn([process.execPath, "scripts/i18n-check.ts", ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { stdout, stderr, code };
  };

  test("passes on the shipped catalogs", async () => {
    const r = await run([]);
    expect(r.code).toBe(0);
    for (const lang of LANGUAGES) expect(r.stdout).toContain(`ok   ${lang}: `);
  });

  test("a new catalog being written: names each problem, says it is not loaded yet, exits 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "invited-i18n-"));
    try {
      const draft: Record<string, string> = { ...CATALOGS.en, landing_welcome: "Karibu {jina}", apps_count: "{count, plural, one {# programu} other {# programu}" };
      delete draft.apps_get;
      writeFileSync(join(dir, "en.json"), JSON.stringify(CATALOGS.en));
      writeFileSync(join(dir, "sw.json"), JSON.stringify(draft));
      writeFileSync(join(dir, "broken.json"), "{ not json");
      const r = await run(["sw"], { I18N_CATALOGS: dir });
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("FAIL sw: ");
      expect(r.stdout).toContain("sw: missing key apps_get");
      expect(r.stdout).toContain("sw: landing_welcome uses {jina}, which this message does not have (it has: {host})");
      expect(r.stdout).toContain("sw: apps_count does not parse as an ICU message");
      expect(r.stdout).toContain('not loaded yet: import it in src/i18n/catalogs.ts and add "sw" to LANGUAGES');
      const all = await run([], { I18N_CATALOGS: dir });
      expect(all.code).toBe(1);
      expect(all.stdout).toContain("FAIL broken: ");
      expect(all.stdout).toContain("ok   en: ");
      expect((await run(["xx"], { I18N_CATALOGS: dir })).stderr).toContain("no catalog xx.json");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
