// Translated pages in a real browser (Debian's chromium driven by playwright-core, as test/browser.test.ts): the
// landing page and the registration form in German, Japanese and Arabic at 390 px (a phone) and 1280 px, each
// screenshotted into test-artifacts/i18n-*.png. Arabic must be laid out right to left: checked by geometry, not
// only by the dir attribute. Without chromium the test is skipped with a message; in CI a missing browser fails.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { ROOT, freePort, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { launchChromium, watchPage, withChromium } from "./browser-helpers.ts";
import { createInvite, makeAccount } from "./invite-helpers.ts";

setDefaultTimeout(120_000);

const ARTIFACTS = join(ROOT, "test-artifacts");
const PHONE_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";

const LANGS = [
  { lang: "de", locale: "de-DE", heading: "Du bist zum Chatten auf example.com eingeladen", form: "Konto anlegen", mismatch: "stimmen nicht überein" },
  { lang: "ja", locale: "ja-JP", heading: "example.com でのチャットに招待されています", form: "アカウントを作成", mismatch: "一致しません" },
  { lang: "ar", locale: "ar-EG", heading: "تلقّيت دعوة للدردشة على example.com", form: "أنشئ حسابك", mismatch: "غير متطابقتين" },
] as const;
const WIDTHS = [390, 1280] as const;

withChromium("browser-i18n.test.ts", "translated pages in a browser (chromium not installed)", () => {
  let sb: Sandbox;
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // The browser talks to 127.0.0.1:PORT, so that is the public_url the account forms' Origin must match.
    const port = freePort();
    sb = sandbox(`[hosts."example.com"]\npublic_url = "http://127.0.0.1:${port}"\napp_registration = true\n[hosts."example.com".user_invites]\nquota = 3\n`);
    server = await startServer(sb, { port });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    sb?.cleanup();
  });

  const watch = (page: Page) => watchPage(page, server.url);

  /** Nothing sticks out sideways: a phone never scrolls horizontally. */
  async function expectNoSidewaysScroll(page: Page, width: number) {
    const scrollWidth = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth);
    expect(scrollWidth).toBeLessThanOrEqual(width);
  }

  async function box(page: Page, selector: string) {
    const b = await page.locator(selector).first().boundingBox();
    if (!b) throw new Error(`${selector} is not visible`);
    return b;
  }

  /** Right to left, by where things are: step numbers right of their text, the heading on the right, the address field still left to right. */
  async function expectRightToLeft(page: Page, rtl: boolean) {
    const dir = await page.evaluate(() => (globalThis as any).getComputedStyle((globalThis as any).document.body).direction);
    expect(dir).toBe(rtl ? "rtl" : "ltr");
    const card = await box(page, "main.card");
    const pill = await box(page, ".pill");
    if (rtl) expect(card.x + card.width - (pill.x + pill.width)).toBeLessThan(60); // starts at the right edge
    else expect(pill.x - card.x).toBeLessThan(60);
  }

  describe("translated pages in a real browser", () => {
    for (const { lang, locale, heading, form, mismatch } of LANGS) {
      for (const width of WIDTHS) {
        test(`${lang} at ${width} px: landing page and registration form`, async () => {
          const invite = await createInvite(sb);
          const phone = width < 500;
          const context = await browser.newContext({
            locale, // Chromium's Accept-Language: the page is chosen by negotiation, not by ?lang=
            viewport: { width, height: phone ? 844 : 900 },
            ...(phone ? { deviceScaleFactor: 2, isMobile: true, hasTouch: true, userAgent: PHONE_UA } : {}),
          });
          const page = await context.newPage();
          const problems = watch(page);
          const r = await page.goto(`${server.url}/invite?${invite.token}`);
          expect(r!.status()).toBe(200);
          expect(await r!.headerValue("content-language")).toBe(lang);
          expect(await page.getAttribute("html", "lang")).toBe(lang);
          expect(await page.getAttribute("html", "dir")).toBe(lang === "ar" ? "rtl" : "ltr");
          expect(await page.locator("h1").innerText()).toBe(heading);
          await expectRightToLeft(page, lang === "ar");
          if (lang === "ar") {
            // The step number sits to the right of its text.
            const step = await box(page, "ol.steps > li h2");
            const circle = await page.locator("ol.steps > li").first().evaluate((li: any) => {
              const r = li.getBoundingClientRect();
              const before = (globalThis as any).getComputedStyle(li, "::before");
              return { right: r.right, insetStart: before.insetInlineStart, left: r.left };
            });
            expect(circle.insetStart).toBe("0px");
            expect(step.x + step.width).toBeLessThan(circle.right - 30);
          }
          if (!phone) {
            const steps = await box(page, "ol.steps");
            const qr = await box(page, "aside.qr");
            // Side by side; in Arabic the QR code is on the left of the steps.
            if (lang === "ar") expect(qr.x + qr.width).toBeLessThanOrEqual(steps.x + 1);
            else expect(qr.x).toBeGreaterThanOrEqual(steps.x + steps.width - 1);
          }
          await expectNoSidewaysScroll(page, width);
          await page.screenshot({ path: join(ARTIFACTS, `i18n-landing-${lang}-${width}.png`), fullPage: true });

          // The web registration link keeps the language (by the header here; a chosen one by link or cookie).
          await page.locator("a.btn.ghost[href*='register?t=']").click();
          await page.waitForURL(/\/register\?t=/);
          expect(await page.getAttribute("html", "lang")).toBe(lang);
          expect(await page.locator("h1").innerText()).toBe(form);
          // The address field reads left to right in every language: the name, then @example.com on its right.
          const input = await box(page, "#user");
          const suffix = await box(page, ".suffix");
          expect(suffix.x).toBeGreaterThanOrEqual(input.x + input.width - 1);
          await page.fill("#user", "browser");
          await page.fill("#password", "a good long password");
          await page.fill("#password_confirm", "a different password");
          await page.click("button[type=submit]");
          await page.waitForLoadState();
          expect(await page.locator(".alert").innerText()).toContain(mismatch);
          expect(await page.getAttribute("html", "lang")).toBe(lang);
          await expectRightToLeft(page, lang === "ar");
          await expectNoSidewaysScroll(page, width);
          await page.screenshot({ path: join(ARTIFACTS, `i18n-register-${lang}-${width}.png`), fullPage: true });
          expect(problems).toEqual([]);
          await context.close();
        });
      }
    }

    test("a member's pages in Arabic at 390 px: sign in, my account, my invites", async () => {
      await makeAccount(sb, server, "layla");
      const context = await browser.newContext({ locale: "ar-EG", viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, userAgent: PHONE_UA });
      const page = await context.newPage();
      const problems = watch(page);
      await page.goto(`${server.url}/account/login`);
      expect(await page.getAttribute("html", "dir")).toBe("rtl");
      expect(await page.locator("h1").innerText()).toBe("تسجيل الدخول");
      await page.screenshot({ path: join(ARTIFACTS, "i18n-signin-ar-390.png"), fullPage: true });
      await page.fill("#user", "layla");
      await page.fill("#password", "correct horse battery");
      await page.click("button[type=submit]");
      await page.waitForURL(/\/account$/);
      expect(await page.getAttribute("html", "lang")).toBe("ar");
      expect(await page.locator("nav.topnav a[aria-current=page]").innerText()).toBe("حسابي");
      await expectRightToLeft(page, true);
      await expectNoSidewaysScroll(page, 390);
      await page.screenshot({ path: join(ARTIFACTS, "i18n-account-ar-390.png"), fullPage: true });
      await page.goto(`${server.url}/account/invites`);
      expect(await page.locator("h1").innerText()).toBe("ادعُ أشخاصًا");
      await page.screenshot({ path: join(ARTIFACTS, "i18n-invites-ar-390.png"), fullPage: true });
      expect(problems).toEqual([]);
      await context.close();
    });

    test("the language picker: choosing Arabic on a German page sticks (cookie) for the form", async () => {
      const invite = await createInvite(sb);
      const context = await browser.newContext({ locale: "de-DE", viewport: { width: 390, height: 844 } });
      const page = await context.newPage();
      const problems = watch(page);
      await page.goto(`${server.url}/invite?${invite.token}`);
      expect(await page.getAttribute("html", "lang")).toBe("de");
      await page.locator("nav.langs a[hreflang='ar']").click();
      await page.waitForURL(/lang=ar/);
      expect(await page.getAttribute("html", "lang")).toBe("ar");
      expect((await context.cookies()).find((c) => c.name === "lang")?.value).toBe("ar");
      // Without any lang= in the URL, the cookie beats Accept-Language: de.
      await page.goto(`${server.url}/register?t=${invite.token}`);
      expect(await page.getAttribute("html", "lang")).toBe("ar");
      expect(await page.locator("nav.langs [aria-current]").innerText()).toBe("العربية");
      await page.screenshot({ path: join(ARTIFACTS, "i18n-picker-ar-390.png"), fullPage: true });
      expect(problems).toEqual([]);
      await context.close();
    });
  });
});
