// A real browser (Debian's chromium driven by playwright-core, fresh profile per launch) follows an invite from its landing page to a new
// account. Without chromium the test is skipped with a message; in CI (env CI set) a missing browser is a failure.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { ROOT, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { launchChromium, watchPage, withChromium } from "./browser-helpers.ts";
import { createInvite, query } from "./invite-helpers.ts";

setDefaultTimeout(90_000);

const ARTIFACTS = join(ROOT, "test-artifacts");
const PHONE_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36";

withChromium("browser.test.ts", "browser registration (chromium not installed)", () => {
  let sb: Sandbox;
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    sb = sandbox('[hosts."example.com"]\npublic_url = "https://example.com"\napp_registration = true\n');
    server = await startServer(sb);
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    sb?.cleanup();
  });

  const watch = (page: Page) => watchPage(page, server.url);

  async function phoneContext(): Promise<BrowserContext> {
    return browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, userAgent: PHONE_UA });
  }

  describe("in a real browser", () => {
    test("landing page → web registration → success; the same link a second time is refused", async () => {
      const invite = await createInvite(sb);
      const landingUrl = `${server.url}/invite?${invite.token}`;
      const context = await phoneContext();
      const page = await context.newPage();
      const problems = watch(page);

      const landing = await page.goto(landingUrl);
      expect(landing!.status()).toBe(200);
      expect(await page.title()).toBe("Invite to example.com");
      await expect(page.locator("h1").innerText()).resolves.toContain("invited to chat on example.com");
      expect(await page.locator("svg[aria-label^='QR code']").isVisible()).toBe(true);
      expect(await page.locator("a[href^='xmpp:example.com?register;preauth=']").count()).toBe(1);
      // Logos really load (served by invited, allowed by the CSP).
      const logo = page.locator("img[src$='conversations.svg']");
      await logo.scrollIntoViewIfNeeded();
      expect(await logo.evaluate((img: any) => img.complete && img.naturalWidth > 0)).toBe(true);
      // The stylesheet applied: the primary button is a filled accent colour, not an unstyled link.
      const bg = await page.locator("a.btn:not(.ghost)").first().evaluate((a: any) => (globalThis as any).getComputedStyle(a).backgroundColor);
      expect(bg).not.toBe("rgba(0, 0, 0, 0)");
      await page.screenshot({ path: join(ARTIFACTS, "landing-phone.png"), fullPage: true });

      // A second tab loads the form now and submits it after the first one used the invite.
      const late = await context.newPage();
      const lateProblems = watch(late);
      await late.goto(`${server.url}/register?t=${invite.token}`);

      await page.getByRole("link", { name: "Create account on the web" }).click();
      await page.waitForURL(/\/register\?t=/);
      expect(await page.locator("h1").innerText()).toBe("Create your account");
      // A mistake first: the server explains it and keeps the typed username.
      await page.fill("#user", "Browser.User");
      await page.fill("#password", "a good long password");
      await page.fill("#password_confirm", "a different password");
      await page.click("button[type=submit]");
      await page.waitForLoadState();
      expect(await page.locator(".alert").innerText()).toContain("don't match");
      expect(await page.inputValue("#user")).toBe("Browser.User");
      await page.screenshot({ path: join(ARTIFACTS, "register-error-phone.png"), fullPage: true });

      await page.fill("#password", "a good long password");
      await page.fill("#password_confirm", "a good long password");
      await page.click("button[type=submit]");
      await page.waitForLoadState();
      expect(await page.locator("h1").innerText()).toContain("Your account is ready");
      expect(await page.locator(".big-addr").innerText()).toBe("browser.user@example.com");
      expect(await page.content()).not.toContain("a good long password");
      await page.screenshot({ path: join(ARTIFACTS, "success-phone.png"), fullPage: true });
      expect(query(sb, "SELECT username FROM accounts")).toEqual([{ username: "browser.user" }]);

      // Second attempt with the loaded form: refused, and the browser lands on the "used" page.
      await late.fill("#user", "second.user");
      await late.fill("#password", "another good password");
      await late.fill("#password_confirm", "another good password");
      await late.click("button[type=submit]");
      await late.waitForLoadState();
      expect(late.url()).toBe(landingUrl);
      expect(await late.locator("h1").innerText()).toBe("This invite has already been used");
      expect(await late.locator("a[href*='register?t=']").count()).toBe(0);

      // Second attempt by following the link again.
      const again = await page.goto(`${server.url}/register?t=${invite.token}`);
      expect(again!.status()).toBe(410);
      expect(page.url()).toBe(landingUrl);
      expect(await page.locator("h1").innerText()).toBe("This invite has already been used");
      await page.screenshot({ path: join(ARTIFACTS, "used-phone.png"), fullPage: true });

      expect(query(sb, "SELECT username FROM accounts")).toEqual([{ username: "browser.user" }]);
      expect([...problems, ...lateProblems]).toEqual([]);
      await context.close();
    });

    test("desktop layout and a reset invite", async () => {
      const invite = await createInvite(sb, ["--uses", "5", "--group", "friends"]);
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const problems = watch(page);
      await page.goto(`${server.url}/invite?${invite.token}`);
      // Side by side on a wide screen: the QR code sits to the right of the steps.
      const steps = await page.locator("ol.steps").boundingBox();
      const qr = await page.locator("aside.qr").boundingBox();
      expect(qr!.x).toBeGreaterThan(steps!.x + steps!.width - 1);
      await page.screenshot({ path: join(ARTIFACTS, "landing-desktop.png"), fullPage: true });

      await page.getByRole("link", { name: "Create account on the web" }).click();
      await page.fill("#user", "desk");
      await page.fill("#password", "a long secret one");
      await page.fill("#password_confirm", "a long secret one");
      await page.click("button[type=submit]");
      await page.waitForLoadState();
      expect(await page.locator(".big-addr").innerText()).toBe("desk@example.com");

      const { cli } = await import("./helpers.ts");
      const reset = await cli(["invite", "create", "example.com", "--reset", "desk"], { config: sb.config });
      expect(reset.code).toBe(0);
      const resetToken = reset.stdout.trim().split("?")[1]!;
      await page.goto(`${server.url}/invite?${resetToken}`);
      expect(await page.locator("h1").innerText()).toBe("Set a new password");
      await page.screenshot({ path: join(ARTIFACTS, "reset-desktop.png"), fullPage: true });
      await page.getByRole("link", { name: "Set a new password" }).click();
      expect(await page.inputValue("#user")).toBe("desk");
      await page.fill("#password", "a long secret two");
      await page.fill("#password_confirm", "a long secret two");
      await page.click("button[type=submit]");
      await page.waitForLoadState();
      expect(await page.locator("h1").innerText()).toBe("Your new password is set");
      const [row] = query<{ password_hash: string }>(sb, "SELECT password_hash FROM accounts WHERE username = 'desk'");
      expect(await Bun.password.verify("a long secret two", row!.password_hash)).toBe(true);
      expect(problems).toEqual([]);
      await context.close();
    });
  });
});
