// Per host site_name, contact, terms_url and privacy_url (issue 16, item 8): shown on the host's pages, translated.
import { expect, test } from "bun:test";
import { cli, get, sandbox, withServer } from "./helpers.ts";
import { createInvite } from "./invite-helpers.ts";

const SITE = '[hosts."example.com"]\npublic_url = "https://example.com"\nsite_name = "The Garden Club"\ncontact = "mailto:admin@example.com"\nterms_url = "https://example.com/terms"\nprivacy_url = "https://example.com/privacy"\n';

test("the landing and registration pages show the site's name, contact and policies", async () => {
  await withServer(SITE, async (server, sb) => {
    const invite = await createInvite(sb);
    const landing = await (await get(`${server.url}/invite?${invite.token}`)).text();
    expect(landing).toContain("<bdi>The Garden Club</bdi>");
    expect(landing).toContain('<a href="mailto:admin@example.com">Questions? Ask admin@example.com</a>');
    expect(landing).toContain('<a href="https://example.com/terms">Terms of service</a>');
    expect(landing).toContain('<a href="https://example.com/privacy">Privacy policy</a>');
    const form = await (await get(`${server.url}/register?t=${invite.token}`, { headers: { "Accept-Language": "de" } })).text();
    expect(form).toContain("Fragen? Wende dich an admin@example.com");
    expect(form).toContain("Datenschutz");
  });
});

test("a plain address is shown as text; a bad contact or URL is a config error", async () => {
  await withServer('[hosts."example.com"]\npublic_url = "https://example.com"\ncontact = "admin@example.com"\n', async (server, sb) => {
    const invite = await createInvite(sb);
    const page = await (await get(`${server.url}/invite?${invite.token}`)).text();
    expect(page).toContain("Questions? Ask admin@example.com");
    expect(page).not.toContain('href="admin@example.com"');
  });
  for (const [line, message] of [
    ['contact = "call me maybe"', "'hosts.\"example.com\".contact' must be an address"],
    ['terms_url = "javascript:alert(1)"', "'hosts.\"example.com\".terms_url' must be an http(s) URL"],
    ['site_name = "a\\u0007b"', "'hosts.\"example.com\".site_name' must be at most 80 characters"],
  ] as [string, string][]) {
    const sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n${line}\n`);
    try {
      const r = await cli(["check", "--quick"], { config: sb.config });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    } finally {
      sb.cleanup();
    }
  }
});
