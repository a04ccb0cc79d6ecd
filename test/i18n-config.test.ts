// Languages in the config: per host `languages`, `default_language` and `[hosts.NAME.messages.LANG]` overrides,
// and `[server] default_language`. Mistakes are config errors (exit 2, naming the key and the file); overrides
// show on the pages, escaped like every message.
import { describe, expect, test } from "bun:test";
import { cli, get, sandbox, startServer, writeConfig } from "./helpers.ts";
import { createInvite } from "./invite-helpers.ts";

async function configError(toml: string) {
  const sb = sandbox();
  writeConfig(sb, toml);
  try {
    const r = await cli(["key", "list", "example.com"], { config: sb.config });
    return { ...r, file: sb.config };
  } finally {
    sb.cleanup();
  }
}

const HOST = `[hosts."example.com"]\npublic_url = "https://example.com"\n`;

describe("language settings: mistakes are config errors naming the key", () => {
  const cases: [string, string, RegExp][] = [
    ["unknown language", `${HOST}languages = ["en", "xx"]\n`, /'hosts\."example\.com"\.languages' has an unknown language "xx" \(known: en, de, fr, es, it, nl, pt-BR, pl, ru, uk, ja, zh-Hans, ar\)/],
    ["wrong case", `${HOST}languages = ["pt-br"]\n`, /'hosts\."example\.com"\.languages' has an unknown language "pt-br"/],
    ["empty list", `${HOST}languages = []\n`, /'hosts\."example\.com"\.languages' must name at least one language/],
    ["not a list", `${HOST}languages = "de"\n`, /'hosts\."example\.com"\.languages' must be a list of strings/],
    ["default not offered", `${HOST}languages = ["de", "fr"]\n`, /'hosts\."example\.com"\.default_language' is "en", which is not in languages \(de, fr\)/],
    ["unknown default", `${HOST}default_language = "klingon"\n`, /'hosts\."example\.com"\.default_language' has an unknown language "klingon"/],
    ["unknown server default", `[server]\ndefault_language = "EN"\n${HOST}`, /'server\.default_language' has an unknown language "EN"/],
    ["override of an unknown key", `${HOST}[hosts."example.com".messages.de]\nlanding_welcom = "Hallo"\n`, /'hosts\."example\.com"\.messages\.de\.landing_welcom' is not a message key/],
    ["override that does not parse", `${HOST}[hosts."example.com".messages.de]\nlanding_welcome = "Hallo {host"\n`, /'hosts\."example\.com"\.messages\.de\.landing_welcome' does not parse as an ICU message: /],
    ["override with an unknown placeholder", `${HOST}[hosts."example.com".messages.en]\nlanding_welcome = "Hi {name}"\n`, /'hosts\."example\.com"\.messages\.en\.landing_welcome' uses \{name\}, which this message does not have \(it has: \{host\}\)/],
    ["override with HTML", `${HOST}[hosts."example.com".messages.en]\nlanding_welcome = "<script>alert(1)</script>"\n`, /uses the tag <script>, which is not known \(known: <addr> <b>\)/],
    ["override missing a plural form", `${HOST}[hosts."example.com".messages.pl]\napps_count = "{count, plural, one {# aplikacja} other {# aplikacji}}"\n`, /'hosts\."example\.com"\.messages\.pl\.apps_count' has a plural without every form pl needs/],
    ["override not a string", `${HOST}[hosts."example.com".messages.en]\nlanding_welcome = 5\n`, /'hosts\."example\.com"\.messages\.en\.landing_welcome' must be a string/],
    ["override for an unknown language", `${HOST}[hosts."example.com".messages.xx]\nlanding_welcome = "Hi"\n`, /'hosts\."example\.com"\.messages\.xx' is not a known language/],
    ["override for a language not offered", `${HOST}languages = ["en"]\n[hosts."example.com".messages.de]\nlanding_welcome = "Hallo"\n`, /'hosts\."example\.com"\.messages\.de' is a language this host does not offer \(languages: en\)/],
    ["messages not a table", `${HOST}messages = "x"\n`, /'hosts\."example\.com"\.messages' must be a table/],
  ];
  for (const [name, toml, message] of cases) {
    test(name, async () => {
      const r = await configError(toml);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain(r.file);
      expect(r.stderr).not.toContain("    at ");
    });
  }
});

describe("admin overrides on the pages", () => {
  test("a host's own welcome line per language, escaped, with the library's placeholders; other languages keep the catalog", async () => {
    const sb = sandbox(`${HOST}[hosts."example.com".messages.de]
landing_welcome = "Willkommen bei {host} & Co. – schön, dass du da bist!"
[hosts."example.com".messages.en]
landing_footer = "Keep this link <b>private</b>."
`);
    const server = await startServer(sb);
    try {
      const { token } = await createInvite(sb);
      const de = await (await get(`${server.url}/invite?${token}&lang=de`)).text();
      expect(de).toContain("<h1>Willkommen bei example.com &amp; Co. – schön, dass du da bist!</h1>");
      expect(de).toContain("Wer diesen Link hat"); // the German footer is the catalog's
      const en = await (await get(`${server.url}/invite?${token}&lang=en`)).text();
      expect(en).toContain("<footer>Keep this link <b>private</b>.</footer>");
      expect(en).toContain("You're invited to chat on example.com");
      const fr = await (await get(`${server.url}/invite?${token}&lang=fr`)).text();
      expect(fr).toContain("Vous avez reçu une invitation pour discuter sur example.com");
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });

  test("invited check accepts a config with languages and overrides", async () => {
    const sb = sandbox(`${HOST}languages = ["ar", "en"]\ndefault_language = "ar"\n[hosts."example.com".messages.ar]\nlanding_welcome = "مرحبًا بك في {host}"\n`);
    try {
      const r = await cli(["check"], { config: sb.config });
      expect(r.stderr).not.toContain("config error");
      expect(r.code).toBe(0);
    } finally {
      sb.cleanup();
    }
  });
});
