// GET / (issue 16, item 8): a person who trims an invite link to the bare site meets a page naming the hosts, or the
// community's own site when [server] home_url is set, never "not found".
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { cli, get, sandbox, startServer, withServer } from "./helpers.ts";

test("GET / names the hosts, in the reader's language", async () => {
  await withServer('[hosts."chat.example.org"]\npublic_url = "https://chat.example.org"\n[hosts."talk.example.net"]\npublic_url = "https://talk.example.net"\n', async (server) => {
    const r = await get(`${server.url}/`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-security-policy")).toContain("default-src 'none'");
    const page = await r.text();
    expect(page).toContain("chat.example.org and talk.example.net");
    const de = await get(`${server.url}/`, { headers: { "Accept-Language": "de-DE,de;q=0.9" } });
    expect(de.headers.get("content-language")).toBe("de");
    expect(await de.text()).toContain("chat.example.org und talk.example.net");
    expect((await get(`${server.url}/?lang=ja`)).headers.get("content-language")).toBe("ja");
  });
});

test("with home_url, GET / redirects there; a bad home_url is a config error", async () => {
  const sb = sandbox();
  const text = readFileSync(sb.config, "utf8");
  try {
    writeFileSync(sb.config, text.replace("[server]\n", '[server]\nhome_url = "https://community.example/welcome"\n'));
    const server = await startServer(sb);
    try {
      const r = await get(`${server.url}/`, { redirect: "manual" });
      expect(r.status).toBe(302);
      expect(r.headers.get("location")).toBe("https://community.example/welcome");
    } finally {
      await server.stop();
    }
    writeFileSync(sb.config, text.replace("[server]\n", '[server]\nhome_url = "javascript:alert(1)"\n'));
    const bad = await cli(["check", "--quick"], { config: sb.config });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("'server.home_url' must be an http(s) URL");
  } finally {
    sb.cleanup();
  }
});
