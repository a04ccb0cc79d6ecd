// Shared by the Chromium tests: launching Debian's chromium the way this machine needs, and watching a page for
// anything that went wrong (console errors, CSP violations, failed or foreign requests).
import { test } from "bun:test";
import { existsSync } from "node:fs";
import type { Browser, Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** A fresh headless chromium; without the background-networking flags it keeps dialling hosts this machine cannot reach. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/**
 * Collects everything a page could not load, console errors (CSP violations are console errors), subresources
 * answered 4xx/5xx, and requests to any origin but `origin`. A document's own 4xx (a re-rendered form, a used invite)
 * is expected. `allowAborted`: requests the browser aborted itself (a download) are not problems.
 */
export function watchPage(page: Page, origin: string | null, opts: { allowAborted?: boolean } = {}): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    if (!(opts.allowAborted && /ERR_ABORTED/.test(r.failure()?.errorText ?? ""))) problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== "document") problems.push(`${r.status()}: ${r.url()}`);
    if (origin !== null && !r.url().startsWith(origin)) problems.push(`foreign request: ${r.url()}`);
  });
  return problems;
}

/**
 * Runs `body` (which declares the file's tests) when chromium is installed. Without it the file is skipped with a
 * message, except in CI, where a missing browser is a failure: CI must install it.
 */
export function withChromium(file: string, skipped: string, body: () => void): void {
  if (existsSync(CHROMIUM)) return body();
  if (process.env.CI) {
    test("chromium is installed", () => {
      throw new Error(`${CHROMIUM} not found; CI must install it (apt-get install -y chromium)`);
    });
    return;
  }
  console.warn(`${file}: SKIPPED, ${CHROMIUM} not found (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  test.skip(skipped, () => {});
}
