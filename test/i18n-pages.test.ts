// Translated pages over real HTTP: which language a request gets and the headers that say so, and that no page
// holds English outside the catalog.
//
// How "no English outside the catalog" is checked: the host overrides every English message with a pseudo-English
// copy whose letters are turned into full-width letters (ICU structure, placeholders, plurals and tags untouched),
// through the admin overrides of the config. Then every page is rendered and every text a person reads (text
// nodes, title, alt, aria-label) is scanned: once the data on the page is taken out (host, addresses, app and
// platform trade names, language names, xmpp: URIs), any run of two ASCII letters left can only have come from a
// template. This does not depend on guessing which English words a template might hold.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { IntlMessageFormat } from "intl-messageformat";
import { get, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { createInvite } from "./invite-helpers.ts";
import { makeFixtures, renderAllPages, renderThrottled, visibleTexts, type PageFixtures } from "./i18n-helpers.ts";
import { CATALOGS, LANGUAGES } from "../src/i18n/index.ts";
import { DEFAULT_APPS } from "../src/pages/apps.ts";

type El = ReturnType<IntlMessageFormat["getAst"]>[number];

/** Full-width letters: unmistakably not from a template, still readable in a failure message. */
const pseudo = (s: string) => s.replace(/[A-Za-z]/g, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0));

/** Prints an ICU AST back to a message, with pseudo letters in its literal text. */
function printPseudo(els: El[]): string {
  return els
    .map((el): string => {
      switch (el.type) {
        case 0:
          return pseudo(el.value).replace(/[{}#<]/g, (c) => `'${c}'`);
        case 1:
          return `{${el.value}}`;
        case 2:
          return `{${el.value}, number}`;
        case 6:
          return `{${el.value}, plural, ${Object.entries(el.options).map(([k, o]) => `${k} {${printPseudo(o.value)}}`).join(" ")}}`;
        case 7:
          return "#";
        case 8:
          return `<${el.value}>${printPseudo(el.children)}</${el.value}>`;
        default:
          throw new Error(`printPseudo: element type ${el.type} is not handled`);
      }
    })
    .join("");
}

const PSEUDO_TOML = Object.entries(CATALOGS.en)
  .map(([key, text]) => `${key} = ${JSON.stringify(printPseudo(new IntlMessageFormat(text, "en").getAst()))}`)
  .join("\n");

const COUNTRY_NAMES = (() => {
  const names = new Intl.DisplayNames("en", { type: "region", fallback: "none" });
  const out: string[] = [];
  for (let a = 65; a <= 90; a++) for (let b = 65; b <= 90; b++) {
    const name = names.of(String.fromCharCode(a, b));
    if (name) out.push(name);
  }
  return out.sort((x, y) => y.length - x.length); // longest first: "Papua New Guinea" before "Guinea"
})();

/** What a page shows that is data, not words: names and addresses that stay as they are in every language. */
const DATA = [
  /xmpp:\S+/g,
  /[\w.-]*@example\.com/g,
  /example\.com/g,
  ...DEFAULT_APPS.map((a) => new RegExp(a.name, "g")),
  /\b(?:Android|Linux|Windows|macOS)\b/g,
  ...LANGUAGES.map((l) => new RegExp(CATALOGS[l].language_name.replace(/[()]/g, "\\$&"), "g")),
  /\b(?:carol|dora|someone|mallory|member\d+)\b/g,
  /alice@example\.org|\balice\b/g, // the sign-in hint's example address
  /“user”/g, // the name of the field sent twice, echoed back
  // Intl.RelativeTimeFormat's English: formatted by the library, not written in a template.
  /\bin \d+ (?:days?|hours?|minutes?|seconds?)\b/g,
  // Intl.DateTimeFormat's English dates ("Dec 8, 2026, 2:52 AM"), with the UTC they are in.
  /\b[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s?[AP]M\b/g,
  /\bUTC\b/g,
  // Country names come from Intl.DisplayNames (a sign-in's location).
  ...COUNTRY_NAMES.map((n) => new RegExp(`\\b${n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`, "g")),
  // Browser and system names on the sessions list.
  /\b(?:Chrome|Firefox|Safari|Edge|curl|iOS)\b/g,
];

function leftoverEnglish(texts: string[]): string[] {
  return texts
    .map((t) => DATA.reduce((s, re) => s.replace(re, " "), t))
    .filter((t) => /[A-Za-z]{2,}/.test(t));
}

describe("no English outside the catalog", () => {
  let sb: Sandbox;
  let server: TestServer;
  let fx: PageFixtures;
  beforeAll(async () => {
    // The app button shows only while Prosody reports in ("auto"); here it always shows, and the web-only page is
    // checked on its own below.
    sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\napp_registration = true\n[hosts."example.com".messages.en]\n${PSEUDO_TOML}\n`);
    server = await startServer(sb);
    fx = await makeFixtures(sb, server);
  });
  afterAll(async () => {
    await server?.stop();
    sb?.cleanup();
  });

  test("the pseudo override is applied (the check can see catalog text)", async () => {
    const { token } = await createInvite(sb);
    const page = await (await get(`${server.url}/invite?${token}`)).text();
    expect(page).toContain(pseudo("Open invite in my app"));
    // ... and would see English: the scanner flags a plain English sentence.
    expect(leftoverEnglish(visibleTexts("<p>Open invite in my app</p>"))).toEqual(["Open invite in my app"]);
    expect(leftoverEnglish(visibleTexts('<img alt="Get it">'))).toEqual(["Get it"]);
  });

  test("every page: every text a person reads comes from the catalog", async () => {
    const pages = await renderAllPages(sb, server, fx, "en");
    expect(pages.length).toBeGreaterThan(25);
    const leaks: string[] = [];
    for (const { page, expect: status } of pages) {
      expect(`${page.name}: ${page.status}`).toBe(`${page.name}: ${status}`);
      for (const text of leftoverEnglish(visibleTexts(page.body))) leaks.push(`${page.name}: ${JSON.stringify(text)}`);
    }
    expect(leaks).toEqual([]);
  });

  test("the landing page without the app button (no Prosody reporting in) too", async () => {
    const other = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."example.com".messages.en]\n${PSEUDO_TOML}\n`);
    const otherServer = await startServer(other);
    try {
      const { token } = await createInvite(other);
      const page = await (await get(`${otherServer.url}/invite?${token}`)).text();
      expect(page).toContain(pseudo("Choose your username and password in your browser"));
      expect(page).not.toContain("xmpp:");
      expect(leftoverEnglish(visibleTexts(page))).toEqual([]);
    } finally {
      await otherServer.stop();
      other.cleanup();
    }
  });

  test("the throttled page too", async () => {
    const page = await renderThrottled("en", `[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."example.com".messages.en]\n${PSEUDO_TOML}\n`);
    expect(page.status).toBe(429);
    expect(leftoverEnglish(visibleTexts(page.body))).toEqual([]);
  });
});

describe("per-host languages and defaults", () => {
  test("a host offers only its languages, with its default; a dead link on a shared path uses [server] default_language", async () => {
    const sb = sandbox(`[hosts."example.com"]
public_url = "https://example.com"
languages = ["de", "en", "ja"]
default_language = "de"
[hosts."other.example"]
public_url = "https://other.example"
languages = ["uk", "en"]
default_language = "uk"
`);
    writeFileSync(sb.config, readFileSync(sb.config, "utf8").replace("[server]\n", '[server]\ndefault_language = "fr"\n'));
    const server = await startServer(sb);
    try {
      const { token } = await createInvite(sb);
      const r = await get(`${server.url}/invite?${token}`, { headers: { "Accept-Language": "ar, fr;q=0.9" } });
      expect(r.headers.get("content-language")).toBe("de");
      const text = await r.text();
      // The picker lists only the host's languages.
      expect(text.match(/hreflang="[^"]+"/g)).toEqual(['hreflang="en"', 'hreflang="ja"']);
      expect((await get(`${server.url}/invite?${token}&lang=ar`)).headers.get("content-language")).toBe("de");
      expect((await get(`${server.url}/invite?${token}`, { headers: { "Accept-Language": "ja" } })).headers.get("content-language")).toBe("ja");
      const other = await createInvite(sb, [], "other.example");
      expect((await get(`${server.url}/invite?${other.token}`)).headers.get("content-language")).toBe("uk");
      // Both hosts share /invite: an unknown token belongs to neither, so the server's default (fr), among every
      // language some host offers.
      const dead = await get(`${server.url}/invite?nosuchtoken`, { headers: { "Accept-Language": "ar" } });
      expect(dead.status).toBe(404);
      expect(dead.headers.get("content-language")).toBe("fr");
      expect((await dead.text()).match(/hreflang="[^"]+"/g)).toEqual(['hreflang="en"', 'hreflang="de"', 'hreflang="uk"', 'hreflang="ja"']);
      expect((await get(`${server.url}/invite?nosuchtoken`, { headers: { "Accept-Language": "uk" } })).headers.get("content-language")).toBe("uk");
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });
});

describe("negotiation over HTTP", () => {
  let sb: Sandbox;
  let server: TestServer;
  beforeAll(async () => {
    sb = sandbox();
    server = await startServer(sb);
  });
  afterAll(async () => {
    await server?.stop();
    sb?.cleanup();
  });

  test("the landing page: Content-Language, Vary adds Accept-Language and Cookie to User-Agent, <html lang dir>", async () => {
    const { token } = await createInvite(sb);
    const r = await get(`${server.url}/invite?${token}`, { headers: { "Accept-Language": "en-GB,en;q=0.8" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-language")).toBe("en");
    expect(r.headers.get("vary")).toBe("User-Agent, Accept-Language, Cookie");
    expect(r.headers.get("set-cookie")).toBeNull();
    expect(await r.text()).toContain('<html lang="en" dir="ltr">');
  });

  test("/invite?TOKEN&lang=xx shows the invite (it was a 404) and remembers the language in a cookie", async () => {
    const { token } = await createInvite(sb);
    const r = await get(`${server.url}/invite?${token}&lang=en`);
    expect(r.status).toBe(200);
    expect(r.headers.get("set-cookie")).toBe("lang=en; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly");
    const page = await r.text();
    expect(page).toContain("You're invited to chat on example.com");
    // The page's own links carry the language the link chose.
    expect(page).toContain(`./register?t=${token}&amp;lang=en`);
    // /invite?TOKEN still works, and so do junk parameters after the token.
    expect((await get(`${server.url}/invite?${token}`)).status).toBe(200);
    expect((await get(`${server.url}/invite?${token}&lang=%ZZ&x=<script>`)).status).toBe(200);
  });

  test("the form and the dead-link pages carry the same headers", async () => {
    const { token } = await createInvite(sb);
    for (const url of [`/register?t=${token}`, "/invite?nosuchtoken", "/invite?nosuchtoken&lang=en"]) {
      const r = await get(`${server.url}${url}`);
      expect(r.headers.get("content-language")).toBe("en");
      expect(r.headers.get("vary")).toBe("Accept-Language, Cookie");
      expect(await r.text()).toContain('<html lang="en" dir="ltr">');
    }
  });

  test("a dead token on the form redirects to its landing page in the language the link chose", async () => {
    const r = await get(`${server.url}/register?t=nosuchtoken&lang=en`, { redirect: "manual" });
    expect(r.status).toBe(303);
    expect(r.headers.get("location")).toBe("./invite?nosuchtoken&lang=en");
  });

  test("Accept-Language picks the page's language; the cookie overrides it; ?lang= overrides both", async () => {
    const { token } = await createInvite(sb);
    const page = (r: Response) => r.text();
    const de = await get(`${server.url}/invite?${token}`, { headers: { "Accept-Language": "de-DE,de;q=0.9,en;q=0.8" } });
    expect(de.headers.get("content-language")).toBe("de");
    const deText = await page(de);
    expect(deText).toContain('<html lang="de" dir="ltr">');
    expect(deText).toContain("Du bist zum Chatten auf example.com eingeladen");
    expect(deText).toContain("Läuft in 6 Tagen ab");
    const cookie = await get(`${server.url}/invite?${token}`, { headers: { "Accept-Language": "de", Cookie: "theme=dark; lang=ja" } });
    expect(cookie.headers.get("content-language")).toBe("ja");
    expect(cookie.headers.get("set-cookie")).toBeNull();
    const ar = await get(`${server.url}/invite?${token}&lang=ar`, { headers: { "Accept-Language": "de", Cookie: "lang=ja" } });
    expect(ar.headers.get("content-language")).toBe("ar");
    expect(ar.headers.get("set-cookie")).toStartWith("lang=ar;");
    const arText = await page(ar);
    expect(arText).toContain('<html lang="ar" dir="rtl">');
    expect(arText).toContain("تلقّيت دعوة للدردشة على example.com");
  });

  test("the language picker links every language to this page, each named in its own language", async () => {
    const { token } = await createInvite(sb);
    const text = await (await get(`${server.url}/invite?${token}`, { headers: { "Accept-Language": "fr" } })).text();
    expect(text).toContain('<nav class="langs" aria-label="Langue">');
    expect(text).toContain('<span aria-current="true" lang="fr">Français</span>');
    expect(text).toContain(`<a href="?${token}&amp;lang=de" hreflang="de" lang="de">Deutsch</a>`);
    expect(text).toContain(`<a href="?${token}&amp;lang=ar" hreflang="ar" lang="ar">العربية</a>`);
    const form = await (await get(`${server.url}/register?t=${token}`, { headers: { "Accept-Language": "fr" } })).text();
    expect(form).toContain(`<a href="?t=${token}&amp;lang=ja" hreflang="ja" lang="ja">日本語</a>`);
    // A chosen language follows the form: its action and its link back carry it.
    const chosen = await (await get(`${server.url}/register?t=${token}&lang=pl`)).text();
    expect(chosen).toContain('action="./register?lang=pl"');
    expect(chosen).toContain(`href="./invite?${token}&amp;lang=pl"`);
  });

  test("the registration answers follow the page's language: a refusal, the success page", async () => {
    const { token } = await createInvite(sb);
    const post = (fields: Record<string, string>, lang: string) =>
      get(`${server.url}/register?lang=${lang}`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });
    const short = await post({ token, user: "zoe", password: "kurz" }, "de");
    expect(short.status).toBe(400);
    expect(await short.text()).toContain("Dein Passwort braucht mindestens 8 Zeichen.");
    const ok = await post({ token, user: "zoe", password: "correct horse battery" }, "ja");
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-language")).toBe("ja");
    expect(await ok.text()).toContain("ようこそ！アカウントの準備ができました");
  });

  test("the members' sign-in page is translated too; the signed-in pages say they are English", async () => {
    const r = await get(`${server.url}/account/login`, { headers: { "Accept-Language": "uk,en;q=0.5" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-language")).toBe("uk");
    expect(r.headers.get("vary")).toBe("Accept-Language, Cookie");
    const text = await r.text();
    expect(text).toContain('<html lang="uk" dir="ltr">');
    expect(text).toContain("<h1>Вхід</h1>");
    expect(text).toContain('<a href="?lang=ar" hreflang="ar" lang="ar">العربية</a>');
    const ar = await (await get(`${server.url}/account/login?lang=ar&done=signed_out`)).text();
    expect(ar).toContain('<html lang="ar" dir="rtl">');
    expect(ar).toContain("سجّلت الخروج.");
    expect(ar).toContain('action="./login?lang=ar"');
  });

  test("nasty Accept-Language and cookies never break a page", async () => {
    const { token } = await createInvite(sb);
    for (const header of ["", "*", "x".repeat(8000), "de;q=abc, ;;, \u00e9", "zh-Hant-TW-u-ca-buddhist", "en;q=0, *;q=0"]) {
      for (const cookie of ["", "lang=", "lang=../../etc", "lang=" + "a".repeat(5000), "lang=de; lang=fr"]) {
        const r = await get(`${server.url}/invite?${token}`, { headers: { "Accept-Language": header, Cookie: cookie } });
        expect(`${header.slice(0, 20)} | ${cookie.slice(0, 20)}: ${r.status}`).toBe(`${header.slice(0, 20)} | ${cookie.slice(0, 20)}: 200`);
        await r.text();
      }
    }
  });
});
