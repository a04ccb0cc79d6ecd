import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderSVG } from "uqr";
import { cli, get, sandbox, startServer, withServer, type Sandbox, type TestServer } from "./helpers.ts";
import { createInvite, makeAccount, register } from "./invite-helpers.ts";

let sb: Sandbox;
let server: TestServer;

beforeAll(async () => {
  sb = sandbox('[hosts."example.com"]\npublic_url = "https://chat.example.com"\napp_registration = true\n');
  server = await startServer(sb);
});
afterAll(async () => {
  await server.stop();
  sb.cleanup();
});

const ANDROID_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126 Mobile Safari/537.36";
const IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

function expectPageHeaders(r: Response) {
  expect(r.headers.get("content-type")).toBe("text/html; charset=utf-8");
  expect(r.headers.get("cache-control")).toBe("no-store");
  expect(r.headers.get("referrer-policy")).toBe("no-referrer");
  expect(r.headers.get("x-robots-tag")).toContain("noindex");
  const csp = r.headers.get("content-security-policy")!;
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("img-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain("script-src");
  expect(csp).not.toContain("unsafe-inline");
  expect(csp).not.toMatch(/https?:/);
}

/** Everything the page would load (src=, <link href>) is on this origin; there is no script at all. */
function expectSelfContained(page: string) {
  expect(page).not.toMatch(/<script/i);
  expect(page).not.toMatch(/\son[a-z]+=/i);
  expect(page).not.toMatch(/\sstyle=/i);
  for (const [, url] of page.matchAll(/\ssrc="([^"]*)"/g)) expect(url).toMatch(/^\.\.?\//);
  for (const [, url] of page.matchAll(/<link [^>]*href="([^"]*)"/g)) expect(url).toMatch(/^\.\.?\//);
  expect(page).not.toMatch(/@import|url\(/);
}

describe("landing page of a valid invite", () => {
  test("host, what it gives, QR of the page URL, xmpp link and Link header, apps, web registration", async () => {
    const { token, url } = await createInvite(sb);
    const r = await get(`${server.url}/invite?${token}`);
    expect(r.status).toBe(200);
    expectPageHeaders(r);
    expect(r.headers.get("link")).toBe(`<xmpp:example.com?register;preauth=${token}>; rel="alternate"`);
    const page = await r.text();
    expectSelfContained(page);
    expect(page).toContain("You're invited to chat on example.com");
    expect(page).toContain(`href="xmpp:example.com?register;preauth=${token}"`);
    expect(page).toContain(`href="./register?t=${token}"`);
    expect(page).toContain("Works once");
    expect(page).toMatch(/Expires in [67] days/);
    // The QR code is inline SVG of the public page URL, exactly as uqr renders it.
    expect(url).toBe(`https://chat.example.com/invite?${token}`);
    const qrPath = /<svg role="img" aria-label="QR code[^>]*>.*?<path fill="#111111" d="([^"]+)"/s.exec(page)?.[1];
    const expected = /<path fill="#111111" d="([^"]+)"/.exec(renderSVG(url, { ecc: "M", border: 2, whiteColor: "#ffffff", blackColor: "#111111" }))?.[1];
    expect(qrPath).toBeDefined();
    expect(qrPath).toBe(expected!);
    // The default client list, grouped by platform, logos served by invited itself.
    for (const name of ["Conversations", "Cheogram", "Monocles Chat", "Monal", "Siskin IM", "Dino", "Gajim", "Beagle IM"]) expect(page).toContain(`>${name}<`);
    for (const platform of ["Android", "iPhone &amp; iPad", "Linux", "Windows", "macOS"]) expect(page).toContain(`<summary>${platform}<small>`);
    const logos = [...page.matchAll(/<img src="\.\/(assets\/logos\/[a-z]+\.svg)"/g)].map((m) => m[1]!);
    expect(new Set(logos).size).toBe(8);
    for (const logo of new Set(logos)) {
      const l = await get(`${server.url}/${logo}`);
      expect(l.status).toBe(200);
      expect(l.headers.get("content-type")).toBe("image/svg+xml");
      expect(l.headers.get("content-security-policy")).toContain("sandbox");
      const svg = await l.text();
      expect(svg).toStartWith("<svg");
      expect(svg).not.toMatch(/<script|href=|https?:\/\/(?!www\.w3\.org)/);
    }
    // The style block is the one the CSP hash allows.
    const style = /<style>([\s\S]*?)<\/style>/.exec(page)![1]!;
    const hash = createHash("sha256").update(style).digest("base64");
    expect(r.headers.get("content-security-policy")).toContain(`style-src 'sha256-${hash}'`);
    expect((await get(`${server.url}/assets/invited.svg`)).status).toBe(200);
  });

  test("the visitor's platform is listed first and open", async () => {
    const { token } = await createInvite(sb);
    const android = await (await get(`${server.url}/invite?${token}`, { headers: { "User-Agent": ANDROID_UA } })).text();
    const sections = [...android.matchAll(/<details class="platform"( open)?><summary>([^<]+)</g)].map((m) => [m[2], Boolean(m[1])]);
    expect(sections[0]).toEqual(["Android", true]);
    expect(sections.slice(1).every(([, open]) => !open)).toBe(true);
    const iphone = await (await get(`${server.url}/invite?${token}`, { headers: { "User-Agent": IPHONE_UA } })).text();
    expect(/<details class="platform"( open)?><summary>([^<]+)</.exec(iphone)?.[2]).toBe("iPhone &amp; iPad");
    const unknown = await (await get(`${server.url}/invite?${token}`, { headers: { "User-Agent": "curl/8" } })).text();
    expect([...unknown.matchAll(/<details class="platform" open>/g)].length).toBe(5);
  });

  test("a trailing slash on the landing or registration path is sent to the path itself, so relative links work", async () => {
    const { token } = await createInvite(sb);
    const landing = await get(`${server.url}/invite/?${token}`, { redirect: "manual" });
    expect(landing.status).toBe(308);
    expect(new URL(landing.headers.get("location")!, `${server.url}/invite/`).href).toBe(`${server.url}/invite?${token}`);
    const followed = await fetch(`${server.url}/invite/?${token}`); // as a browser would follow it
    expect(followed.status).toBe(200);
    expect(followed.url).toBe(`${server.url}/invite?${token}`);
    const form = await get(`${server.url}/register/?t=${token}`, { redirect: "manual" });
    expect(form.status).toBe(308);
    expect(new URL(form.headers.get("location")!, `${server.url}/register/`).href).toBe(`${server.url}/register?t=${token}`);
    // A form posted to the slashed path keeps its method and body through the 308, and registers.
    const posted = await fetch(`${server.url}/register/`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token, user: "slash", password: "correct horse battery" }).toString(),
    });
    expect(posted.status).toBe(200);
    expect(await posted.text()).toContain("slash@example.com");
  });

  test("username-bound, multi-use and unlimited invites say what they give", async () => {
    const bound = await createInvite(sb, ["--username", "Carol"]);
    const b = await (await get(`${server.url}/invite?${bound.token}`)).text();
    expect(b).toContain("carol@example.com");
    expect(b).toContain("create the account");
    const multi = await createInvite(sb, ["--uses", "3"]);
    expect(await (await get(`${server.url}/invite?${multi.token}`)).text()).toContain("3 of 3 uses left");
    expect((await register(server, multi.token, "multi1", "correct horse battery")).status).toBe(200);
    expect(await (await get(`${server.url}/invite?${multi.token}`)).text()).toContain("2 of 3 uses left");
    const unlimited = await createInvite(sb, ["--unlimited"]);
    expect(await (await get(`${server.url}/invite?${unlimited.token}`)).text()).toContain("Can be used by several people");
  });

  test("a reset invite offers a set-new-password link for its account", async () => {
    await makeAccount(sb, server, "dora");
    const { token } = await createInvite(sb, ["--reset", "dora"]);
    const r = await get(`${server.url}/invite?${token}`);
    expect(r.status).toBe(200);
    // The account's address is in the link, so the app fills in and locks the name.
    expect(r.headers.get("link")).toBe(`<xmpp:dora@example.com?register;preauth=${token}>; rel="alternate"`);
    const page = await r.text();
    expect(page).toContain("Set a new password");
    expect(page).toContain("dora@example.com");
    expect(page).toContain(`href="./register?t=${token}"`);
    expect(page).toContain("Expires in 23 hours");
  });
});

describe("dead tokens", () => {
  test("unknown 404, expired/used/revoked 410, each saying which, with no registration link", async () => {
    const used = await createInvite(sb);
    expect((await register(server, used.token, "usedup", "correct horse battery")).status).toBe(200);
    const revoked = await createInvite(sb);
    expect((await cli(["invite", "revoke", "example.com", revoked.id], { config: sb.config })).code).toBe(0);
    const expired = await createInvite(sb, ["--ttl", "1s"]);
    await Bun.sleep(1100);
    const cases: [string, number, RegExp][] = [
      ["nosuchtoken", 404, /invite link is invalid/],
      ["", 404, /invite link is invalid/],
      ["%3Cscript%3Ealert(1)%3C/script%3E", 404, /invite link is invalid/],
      ["<script>alert(1)</script>", 404, /invite link is invalid/],
      ["A".repeat(5000), 404, /invite link is invalid/],
      [used.token, 410, /already been used/],
      [revoked.token, 410, /has been withdrawn/],
      [expired.token, 410, /has expired/],
    ];
    for (const [token, status, message] of cases) {
      const r = await get(`${server.url}/invite?${token}`);
      expect(`${token.slice(0, 30)} ${r.status}`).toBe(`${token.slice(0, 30)} ${status}`);
      expectPageHeaders(r);
      expect(r.headers.get("link")).toBeNull();
      const page = await r.text();
      expectSelfContained(page);
      expect(page).toMatch(message);
      expect(page).not.toContain("register?t=");
      expect(page).not.toContain("xmpp:");
      expect(page).not.toContain("<script>alert");
    }
  });
});

describe("configured client apps", () => {
  test("replace the default list; names and URLs are escaped; a logo file is served by invited", async () => {
    const probe = sandbox();
    const logo = join(probe.dir, "our-logo.svg");
    const logoSvg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="red"/></svg>';
    writeFileSync(logo, logoSvg);
    const extra = `[hosts."example.com"]
public_url = "https://example.com"

[[hosts."example.com".apps]]
name = "<b>Evil</b> & \\"Co\\""
platforms = ["Android", "web"]
url = "https://apps.example/?a=1&b=\\"2\\""
logo = ${JSON.stringify(logo)}

[[hosts."example.com".apps]]
name = "Plain"
platforms = ["linux"]
url = "https://plain.example/"
logo = "dino"

[[hosts."example.com".apps]]
name = "No logo"
platforms = ["windows"]
url = "https://nologo.example/"
`;
    try {
      await withServer(extra, async (s, box) => {
        const { token } = await createInvite(box);
        const page = await (await get(`${s.url}/invite?${token}`)).text();
        expect(page).not.toContain("<b>Evil</b>");
        expect(page).toContain("&lt;b&gt;Evil&lt;/b&gt; &amp; &quot;Co&quot;");
        expect(page).toContain('href="https://apps.example/?a=1&amp;b=&quot;2&quot;"');
        expect(page).not.toContain("Conversations");
        expect(page).toContain("<summary>Web<small>");
        expect(page).toContain('<span class="mono" aria-hidden="true">N</span>');
        const custom = /<img src="\.\/(assets\/logos\/custom\/[0-9a-f]+\.svg)"/.exec(page)?.[1];
        expect(custom).toBeDefined();
        const l = await get(`${s.url}/${custom}`);
        expect(l.status).toBe(200);
        expect(l.headers.get("content-type")).toBe("image/svg+xml");
        expect(await l.text()).toBe(logoSvg);
        expect(page).toContain('src="./assets/logos/dino.svg"');
        expect((await get(`${s.url}/assets/logos/custom/0000.svg`)).status).toBe(404);
      });
      await withServer('[hosts."example.com"]\npublic_url = "https://example.com"\napps = []\napp_registration = true\n', async (s, box) => {
        const { token } = await createInvite(box);
        const page = await (await get(`${s.url}/invite?${token}`)).text();
        expect(page).not.toContain("Get a chat app");
        expect(page).toContain("Open invite in my app");
      });
    } finally {
      probe.cleanup();
    }
  });

  test("bad [[apps]] entries are config errors (exit 2)", async () => {
    const bad: [string, RegExp][] = [
      ['platforms = ["andriod"]\nurl = "https://x.example/"', /unknown platform "andriod"/],
      ['platforms = []\nurl = "https://x.example/"', /platforms' is required/],
      ['platforms = ["linux"]\nurl = "javascript:alert(1)"', /url' must be an http\(s\) URL/],
      ['platforms = ["linux"]\nurl = "https://x.example/"\nlogo = "nosuchbadge"', /logo' must be a built-in logo/],
      ['platforms = ["linux"]\nurl = "https://x.example/"\nlogo = "/nonexistent/logo.svg"', /cannot read the file/],
      ['platforms = ["linux"]\nurl = "https://x.example/"\nlogo = "/etc/passwd"', /must be a svg, png/],
      ['platforms = ["linux"]\nurl = "https://x.example/"\ncolour = "red"', /colour' is not a known setting/],
    ];
    for (const [body, message] of bad) {
      const box = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[[hosts."example.com".apps]]\nname = "X"\n${body}\n`);
      try {
        const r = await cli(["invite", "list", "example.com"], { config: box.config });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(message);
      } finally {
        box.cleanup();
      }
    }
  });
});

describe("assets", () => {
  test("unknown or traversing asset paths are 404", async () => {
    for (const p of ["/assets/nope.svg", "/assets/logos/../../../etc/passwd", "/assets/logos/%2e%2e%2fpackage.json", "/assets/"]) {
      const r = await get(`${server.url}${p}`);
      expect(`${p} ${r.status}`).toBe(`${p} 404`);
    }
  });
});
