// A real browser (Debian's chromium through playwright-core) drives the members' story: alice registers, signs in,
// makes an invite, bob registers with it, alice sees bob under "my invites", alice signs out. Every page is
// photographed at 1280 and 390 px wide into test-artifacts/. Without chromium the test is skipped (in CI: fails).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { ROOT, freePort, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { launchChromium, watchPage, withChromium } from "./browser-helpers.ts";
import { createInvite, query } from "./invite-helpers.ts";

setDefaultTimeout(120_000);

const ARTIFACTS = join(ROOT, "test-artifacts");

withChromium("account-browser.test.ts", "the members' story in a browser (chromium not installed)", () => {
  let sb: Sandbox;
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // The browser talks to 127.0.0.1:PORT, so that is the public_url its forms' Origin must match.
    const port = freePort();
    sb = sandbox(`[hosts."example.com"]\npublic_url = "http://127.0.0.1:${port}"\n[hosts."example.com".user_invites]\nquota = 3\nuses = 2\n`);
    server = await startServer(sb, { port });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    sb?.cleanup();
  });

  const watch = (page: Page) => watchPage(page, server.url);

  /** The page at 1280 and at 390 px wide; at 390 nothing may stick out sideways. */
  async function shoot(page: Page, name: string): Promise<void> {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.screenshot({ path: join(ARTIFACTS, `account-${name}-1280.png`), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, `account-${name}-390.png`), fullPage: true });
    const overflow = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  describe("members in a real browser", () => {
    test("alice registers, signs in, invites bob, sees him under my invites, and signs out", async () => {
      const alice = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
      const problems = watch(alice);
      const invite = await createInvite(sb);

      // alice registers on the web.
      await alice.goto(`${server.url}/register?t=${invite.token}`);
      await alice.fill("#user", "alice");
      await alice.fill("#password", "a good long password");
      await alice.fill("#password_confirm", "a good long password");
      await alice.click("button[type=submit]");
      await alice.waitForLoadState();
      expect(await alice.locator(".big-addr").innerText()).toBe("alice@example.com");

      // Signs in: a wrong password first (the error is announced), then by keyboard alone.
      const login = await alice.goto(`${server.url}/account/login`);
      expect(login!.headers()["referrer-policy"]).toBe("same-origin");
      await shoot(alice, "login");
      await alice.getByLabel("Username or address").fill("alice");
      await alice.getByLabel("Password").fill("not my password");
      await alice.click("button[type=submit]");
      await alice.waitForLoadState();
      expect(await alice.locator("[role=alert]").innerText()).toContain("don't match");
      await shoot(alice, "login-error");
      await alice.getByLabel("Password").focus();
      await alice.keyboard.type("a good long password");
      await alice.keyboard.press("Enter");
      await alice.waitForURL(/\/account$/);
      expect(await alice.locator("h1").innerText()).toBe("alice@example.com");
      const cookie = (await alice.context().cookies()).find((c) => c.name === "invited_session")!;
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });
      await shoot(alice, "home");

      // Makes an invite (for two people) on "My invites"; the link and its QR code are shown once.
      await alice.getByRole("navigation", { name: "Account" }).getByRole("link", { name: "My invites" }).click();
      await alice.waitForURL(/\/account\/invites$/);
      await shoot(alice, "invites-empty");
      await alice.getByLabel("How many people may use it").fill("2");
      await alice.getByLabel("Note for yourself (optional)").fill("for Bob");
      await alice.getByRole("button", { name: "Create an invite" }).click();
      await alice.waitForLoadState();
      const link = await alice.getByLabel("Invite link", { exact: true }).inputValue();
      expect(link).toStartWith(`${server.url}/invite?`);
      expect(await alice.locator("svg[aria-label='QR code of your new invite link']").isVisible()).toBe(true);
      await shoot(alice, "invite-created");

      // bob, in a browser of his own, follows the link and registers.
      const bobContext = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
      const bob = await bobContext.newPage();
      const bobProblems = watch(bob);
      await bob.goto(link);
      await bob.getByRole("link", { name: "Create account on the web" }).click();
      await bob.fill("#user", "bob");
      await bob.fill("#password", "a long secret phrase");
      await bob.fill("#password_confirm", "a long secret phrase");
      await bob.click("button[type=submit]");
      await bob.waitForLoadState();
      expect(await bob.locator(".big-addr").innerText()).toBe("bob@example.com");
      expect(query(sb, "SELECT invited_by FROM accounts WHERE username = 'bob'")).toEqual([{ invited_by: "account/alice@example.com" }]);

      // alice sees bob under "my invites", and on her page as someone she invited.
      await alice.goto(`${server.url}/account/invites`);
      const row = alice.locator("table.list tbody tr").first();
      expect(await row.innerText()).toContain("bob@example.com");
      expect(await row.innerText()).toMatch(/open/i); // one of its two uses is left
      await shoot(alice, "invites-used");
      await alice.goto(`${server.url}/account`);
      expect(await alice.locator("dl.kv").innerText()).toContain("bob");
      await shoot(alice, "home-after");
      await alice.goto(`${server.url}/account/password`);
      await shoot(alice, "password");

      // And signs out: the session is gone, the account page sends her to sign in.
      await alice.getByRole("button", { name: "Sign out" }).click();
      await alice.waitForURL(/\/account\/login\?done=signed_out$/);
      expect(await alice.locator("[role=status]").innerText()).toBe("You're signed out.");
      await shoot(alice, "signed-out");
      await alice.goto(`${server.url}/account`);
      expect(alice.url()).toBe(`${server.url}/account/login`);
      expect(query(sb, "SELECT id FROM sessions WHERE username = 'alice'")).toEqual([]);
      expect([...problems, ...bobProblems]).toEqual([]);
      await bobContext.close();
    });
  });
});
