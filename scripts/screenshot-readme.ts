// npm run screenshots: redraws docs/images/landing.png, the README's picture of an invite's landing page, from the
// real server and Debian's chromium, so the picture stays true as the page changes.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const dir = mkdtempSync(join(tmpdir(), "invited-shot-"));
const port = 20000 + Math.floor(Math.random() * 20000);
const config = join(dir, "invited.toml");
writeFileSync(config, `[server]\nlisten = "127.0.0.1:${port}"\n[database]\npath = ${JSON.stringify(join(dir, "invited.db"))}\n[hosts."chat.example.org"]\npublic_url = "http://127.0.0.1:${port}"\n`);
const cli = [process.execPath, join(root, "src/main.ts")];
const made = Bun.spawnSync([...cli, "invite", "create", "chat.example.org", "--uses", "3", "--config", config], { stdout: "pipe", stderr: "pipe" });
if (made.exitCode !== 0) throw new Error(made.stderr.toString());
const link = made.stdout.toString().trim().split("\n")[0]!;
const server = Bun.spawn([...cli, "serve", "--config", config], { stdout: "ignore", stderr: "ignore" });
try {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
    } catch {}
    await Bun.sleep(50);
  }
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, locale: "en-US" });
  await page.goto(link);
  await page.screenshot({ path: join(root, "docs/images/landing.png"), fullPage: false });
  await browser.close();
  console.log("wrote docs/images/landing.png");
} finally {
  server.kill();
  await server.exited;
  rmSync(dir, { recursive: true, force: true });
}
