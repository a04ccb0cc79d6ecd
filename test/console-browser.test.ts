// A real browser (Debian's chromium through playwright-core) drives the admin's story (issue 18, req 5): sign in
// with password and TOTP, create an invite and revoke it, create an API key, disable an account, filter the audit log
// by country and download it as CSV. Every console page is photographed at 1280 and 390 px into test-artifacts/, and
// the dashboard and the map into docs/ (docs/console.md shows them). Without chromium the test is skipped (CI: fails).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import type { Browser, Page } from "playwright-core";
import { ROOT, cli, freePort, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { launchChromium, watchPage, withChromium } from "./browser-helpers.ts";
import { createInvite, query, register } from "./invite-helpers.ts";
import { PW, totpOf } from "./console-helpers.ts";

setDefaultTimeout(180_000);

const ARTIFACTS = join(ROOT, "test-artifacts");

// Where the seeded sign-ups and failed sign-ins come from (the built-in GeoIP database places them).
const PLACES = ["8.8.8.8", "81.2.69.142", "2.16.0.1", "1.1.1.1", "200.1.1.1", "41.0.0.1", "133.1.1.1", "85.1.1.1", "177.1.1.1", "5.1.1.1", "62.1.1.1", "196.1.1.1", "190.1.1.1", "78.1.1.1"];

withChromium("console-browser.test.ts", "the admin's story in a browser (chromium not installed)", () => {
  let sb: Sandbox;
  let server: TestServer;
  let browser: Browser;
  let uri: string;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const port = freePort();
    sb = sandbox(`[hosts."example.com"]\npublic_url = "http://127.0.0.1:${port}"\n[limits]\nsignin_rate = "off"\nsignin_account_rate = "off"\n`);
    server = await startServer(sb, { port });
    // Members who signed up from around the world (through a trusted proxy's X-Forwarded-For, as behind nginx).
    for (const [i, ip] of PLACES.entries()) {
      const { token } = await createInvite(sb);
      expect((await register(server, token, `member${i}`, PW, { "X-Forwarded-For": ip })).status).toBe(200);
    }
    for (const ip of PLACES.slice(0, 6)) {
      await fetch(`${server.url}/account/login`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": ip, Origin: server.url }, body: "user=member0&password=nope" });
    }
    const { token } = await createInvite(sb);
    expect((await register(server, token, "ada", PW)).status).toBe(200);
    expect((await cli(["user", "role", "add", "example.com", "ada", "admin"], { config: sb.config })).code).toBe(0);
    const t = await cli(["user", "totp", "example.com", "ada"], { config: sb.config });
    uri = /otpauth:\/\/\S+/.exec(t.stdout)![0];
    // The chart shows 30 days; the test cannot wait a month, so older sign-ups are dated back in the database.
    const db = new Database(sb.db);
    const day = 86_400_000;
    for (let i = 0; i < 40; i++) {
      db.run("INSERT INTO accounts (host, username, password_hash, roles, groups, created_at, skeleton) VALUES ('example.com', ?1, NULL, '[]', '[]', ?2, ?1)", [`old${i}`, Date.now() - ((i * 7) % 29) * day - (i % 3) * day]);
    }
    db.close();
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    sb?.cleanup();
  });

  const watch = (page: Page) => watchPage(page, server.url, { allowAborted: true });

  async function shoot(page: Page, name: string, docs = false): Promise<void> {
    await page.setViewportSize({ width: 1280, height: 900 });
    const wide = join(ARTIFACTS, `console-${name}-1280.png`);
    await page.screenshot({ path: wide, fullPage: true });
    if (docs) copyFileSync(wide, join(ROOT, "docs", `console-${name}.png`));
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(ARTIFACTS, `console-${name}-390.png`), fullPage: true });
    const overflow = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  describe("the console in a real browser", () => {
    test("sign in with TOTP, invite and revoke, a key, disable an account, audit by country, CSV", async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
      const page = await context.newPage();
      const problems = watch(page);

      // Sign-in asks for the code; the console is then one click away.
      await page.goto(`${server.url}/account/login`);
      await page.getByLabel("Username or address").fill("ada");
      await page.getByLabel("Password").fill(PW);
      await page.click("button[type=submit]");
      await page.waitForLoadState();
      expect(await page.locator("[role=alert]").first().innerText()).toContain("code");
      await shoot(page, "login-totp");
      await page.getByLabel("Password").fill(PW);
      await page.getByLabel("Authentication code (if you use one)").fill(totpOf(uri).code());
      await page.click("button[type=submit]");
      await page.waitForURL(/\/admin$/); // an admin with TOTP lands on the console
      expect(await page.locator("h1").innerText()).toBe("Dashboard");
      expect(await page.locator(".stat").first().innerText()).toContain(String(PLACES.length + 1 + 40));
      expect(await page.locator(".chart svg[role=img]").isVisible()).toBe(true);
      await shoot(page, "dashboard", true);

      // The map: countries filled, the same numbers in the table.
      await page.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Map" }).click();
      await page.waitForURL(/\/admin\/map$/);
      expect(await page.locator(".map path.hit").count()).toBeGreaterThan(8);
      expect(await page.locator("table.list").innerText()).toContain("Japan");
      await shoot(page, "map", true);
      await page.selectOption("#type", "account.login_failed");
      await page.getByRole("button", { name: "Filter" }).click();
      await page.waitForURL(/type=account.login_failed/);
      expect(await page.locator(".map path.hit").count()).toBeLessThan(8);

      // An invite with groups and a note; shown once with link and QR code, then revoked after asking.
      await page.goto(`${server.url}/admin/invites`);
      await page.locator("summary", { hasText: "Create an invite" }).click();
      await page.locator("#note").fill("for the book club");
      await page.locator("#group1").fill("books");
      await page.locator("#uses").fill("5");
      await page.getByRole("button", { name: "Create", exact: true }).click();
      await page.waitForLoadState();
      const link = await page.getByLabel("Invite link", { exact: true }).inputValue();
      expect(link).toStartWith(`${server.url}/invite?`);
      expect(await page.locator("svg[aria-label='QR code of the new invite link']").isVisible()).toBe(true);
      expect(await page.locator("button[data-copy]").isVisible()).toBe(true); // the script unhid it
      await shoot(page, "invite-created");
      const id = link.split("?")[1]!.slice(0, 12);
      await page.getByRole("button", { name: `Revoke ${id}` }).click();
      await page.waitForLoadState();
      expect(await page.locator("h1").innerText()).toBe("Are you sure?");
      await shoot(page, "confirm");
      await page.getByRole("button", { name: "Yes, do it" }).click();
      await page.waitForURL(/done=revoked/);
      expect(query<{ revoked_at: number | null }>(sb, "SELECT revoked_at FROM invites WHERE id = ?", id)[0]!.revoked_at).not.toBeNull();
      await shoot(page, "invites");
      await page.goto(`${server.url}/admin/invites/${id}`);
      await shoot(page, "invite");

      // An API key, its secret shown once.
      await page.goto(`${server.url}/admin/keys`);
      await page.locator("summary", { hasText: "Create a key" }).click();
      await page.locator("#name").fill("signup bot");
      await page.getByRole("button", { name: "Create key" }).click();
      await page.waitForLoadState();
      const secret = await page.getByLabel("Key secret").inputValue();
      expect(secret).toMatch(/^[A-Za-z0-9_-]{12}\/[A-Za-z0-9_-]{43}$/);
      await shoot(page, "keys");

      // Disable an account: asked first, then done.
      await page.goto(`${server.url}/admin/accounts?q=member`);
      await shoot(page, "accounts");
      await page.getByRole("link", { name: "member3" }).click();
      await page.waitForURL(/\/admin\/accounts\/member3$/);
      await shoot(page, "account");
      await page.getByRole("button", { name: "Disable" }).click();
      await page.getByRole("button", { name: "Yes, do it" }).click();
      await page.waitForURL(/done=disabled/);
      expect(query<{ disabled_at: number | null }>(sb, "SELECT disabled_at FROM accounts WHERE username = 'member3'")[0]!.disabled_at).not.toBeNull();

      // The audit log by country, and its CSV.
      await page.goto(`${server.url}/admin/audit`);
      await page.getByLabel("Country code").fill("JP");
      await page.getByRole("button", { name: "Filter" }).click();
      await page.waitForURL(/country=JP/);
      const countries = await page.locator("table.list tbody td[data-label=Country]").allInnerTexts();
      expect(countries.length).toBeGreaterThan(0);
      expect(new Set(countries)).toEqual(new Set(["JP"]));
      await shoot(page, "audit");
      const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download CSV" }).click()]);
      const csv = readFileSync((await download.path())!, "utf8").trim().split("\n");
      expect(csv[0]).toStartWith("id,at,host,type");
      expect(csv.length - 1).toBe(countries.length);
      expect(csv.slice(1).every((l) => l.includes(",JP,"))).toBe(true);

      await page.goto(`${server.url}/admin/outbox`);
      await shoot(page, "outbox");

      // In Arabic: right to left, country names from Intl, nothing sticking out at 390 px.
      await page.goto(`${server.url}/admin?lang=ar`);
      expect(await page.locator("html").getAttribute("dir")).toBe("rtl");
      expect(await page.locator("h1").innerText()).toBe("لوحة المعلومات");
      await shoot(page, "dashboard-ar");
      await page.goto(`${server.url}/admin/map`);
      expect(await page.locator("table.list").innerText()).toContain("اليابان");
      await shoot(page, "map-ar");
      await page.goto(`${server.url}/admin?lang=en`);
      expect(problems).toEqual([]);
      await context.close();
    });
  });
});
