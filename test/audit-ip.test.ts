// Client IP in audit events: trusted/untrusted proxies, X-Forwarded-For chains, IPv4-mapped addresses, prefix
// truncation, ips/location switches, and known lookups from the built-in GeoIP database.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { createKey, freePort, get, sandbox, startServer, withServer, writeConfig } from "./helpers.ts";
import { failedAuthProbe, rows, waitFor, where } from "./audit-support.ts";

const failedAuth = failedAuthProbe;
const NOWHERE = { country_code: null, country_name: null, continent: null };

describe("client IP and location", () => {
  test("a trusted proxy's X-Forwarded-For is used: right-most untrusted hop, IPv4-mapped normalised, known countries", async () => {
    await withServer("", async (server, sb) => {
      // The test server's peer is 127.0.0.1, trusted by default.
      expect(where(await failedAuth(server, sb, "8.8.8.8"))).toEqual({ ip: "8.8.8.8", country_code: "US", country_name: "United States", continent: "North America" });
      expect(where(await failedAuth(server, sb, "81.2.69.142"))).toEqual({ ip: "81.2.69.142", country_code: "GB", country_name: "United Kingdom", continent: "Europe" });
      expect(where(await failedAuth(server, sb, "193.0.6.139"))).toMatchObject({ country_code: "NL", continent: "Europe" });
      expect(where(await failedAuth(server, sb, "133.242.0.1"))).toMatchObject({ country_code: "JP", continent: "Asia" });
      expect(where(await failedAuth(server, sb, "2001:4860:4860::8888"))).toMatchObject({ ip: "2001:4860:4860::8888", country_code: "US" });
      // A chain: the client may have forged the left part; the right-most address our proxy saw wins.
      expect((await failedAuth(server, sb, "1.2.3.4, 81.2.69.142")).ip).toBe("81.2.69.142");
      expect((await failedAuth(server, sb, "8.8.8.8,81.2.69.142")).ip).toBe("81.2.69.142");
      // Trusted hops on the right are skipped.
      expect((await failedAuth(server, sb, "81.2.69.142, 127.0.0.1")).ip).toBe("81.2.69.142");
      // IPv4-mapped IPv6 becomes IPv4, and is then found in the database.
      expect(where(await failedAuth(server, sb, "::ffff:81.2.69.142"))).toMatchObject({ ip: "81.2.69.142", country_code: "GB" });
      // Junk where the walk reaches it is refused (400, test/proxies.test.ts), never taken as the peer's own address;
      // junk left of the first untrusted hop is not read.
      expect((await get(`${server.url}/invites_api`, { headers: { Authorization: "Bearer x", "X-Forwarded-For": "not-an-ip" } })).status).toBe(400);
      expect((await failedAuth(server, sb, "not-an-ip, 81.2.69.142")).ip).toBe("81.2.69.142");
      // Private and loopback addresses have no location.
      expect(where(await failedAuth(server, sb, "192.168.1.20"))).toEqual({ ip: "192.168.1.20", ...NOWHERE });
      expect(where(await failedAuth(server, sb, null))).toEqual({ ip: "127.0.0.1", ...NOWHERE });

      // The success path records the same client address.
      const secret = await createKey(sb);
      const r = await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${secret}`, "X-Forwarded-For": "1.2.3.4, 8.8.8.8" } });
      expect(r.status).toBe(201);
      const invite = await waitFor(() => rows(sb, "type = 'invite.created'")[0], "invite.created");
      expect(where(invite)).toEqual({ ip: "8.8.8.8", country_code: "US", country_name: "United States", continent: "North America" });
    });
  });

  test("an untrusted peer's X-Forwarded-For is ignored (a forged header cannot choose the logged address)", async () => {
    for (const proxies of ["[]", '["10.0.0.1", "::1"]']) {
      const sb = sandbox();
      writeConfig(sb, `[server]\nlisten = "127.0.0.1:0"\ntrusted_proxies = ${proxies}\n\n[database]\npath = ${JSON.stringify(sb.db)}\n\n[hosts."example.com"]\n`);
      const server = await startServer(sb);
      try {
        expect(where(await failedAuth(server, sb, "8.8.8.8"))).toEqual({ ip: "127.0.0.1", ...NOWHERE });
        expect((await failedAuth(server, sb, "1.2.3.4, 81.2.69.142")).ip).toBe("127.0.0.1");
        expect((await failedAuth(server, sb, "::ffff:8.8.8.8")).ip).toBe("127.0.0.1");
      } finally {
        await server.stop();
        sb.cleanup();
      }
    }
    // The environment override (INVITED_TRUSTED_PROXIES) behaves the same.
    await withServer(
      "",
      async (server, sb) => {
        expect(where(await failedAuth(server, sb, "8.8.8.8"))).toEqual({ ip: "127.0.0.1", ...NOWHERE });
      },
      { env: { INVITED_TRUSTED_PROXIES: "10.0.0.1" } },
    );
  });

  test("a chain through several trusted proxies (CIDR ranges) ends at the first untrusted hop", async () => {
    await withServer(
      "",
      async (server, sb) => {
        expect((await failedAuth(server, sb, "8.8.8.8, 10.1.2.3")).ip).toBe("8.8.8.8");
        expect((await failedAuth(server, sb, "1.2.3.4, 8.8.8.8, 10.1.2.3, 10.9.9.9")).ip).toBe("8.8.8.8");
        // 172.16.0.1 is private but not trusted: it is the client.
        expect(where(await failedAuth(server, sb, "8.8.8.8, 172.16.0.1"))).toEqual({ ip: "172.16.0.1", ...NOWHERE });
      },
      { env: { INVITED_TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/8" } },
    );
  });

  test("a dual-stack listener sees ::ffff:127.0.0.1 and logs 127.0.0.1 (still a trusted proxy)", async () => {
    const sb = sandbox();
    const port = freePort();
    const server = await startServer(sb, { port, env: { INVITED_LISTEN: `[::]:${port}` } });
    try {
      expect(where(await failedAuth(server, sb, null))).toEqual({ ip: "127.0.0.1", ...NOWHERE });
      expect((await failedAuth(server, sb, "81.2.69.142")).ip).toBe("81.2.69.142");
      // Over IPv6 loopback the peer is ::1, trusted by default too.
      expect((await failedAuth(server, sb, null, `http://[::1]:${port}`)).ip).toBe("::1");
      expect((await failedAuth(server, sb, "8.8.8.8", `http://[::1]:${port}`)).ip).toBe("8.8.8.8");
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });

  test("ipv4_prefix and ipv6_prefix store the network; the location still comes from the full address", async () => {
    await withServer("[audit]\nipv4_prefix = 24\nipv6_prefix = 48\n", async (server, sb) => {
      expect(where(await failedAuth(server, sb, "81.2.69.142"))).toEqual({ ip: "81.2.69.0/24", country_code: "GB", country_name: "United Kingdom", continent: "Europe" });
      expect(where(await failedAuth(server, sb, "2001:4860:4860::8888"))).toEqual({ ip: "2001:4860:4860::/48", country_code: "US", country_name: "United States", continent: "North America" });
      expect((await failedAuth(server, sb, "::ffff:8.8.4.4")).ip).toBe("8.8.4.0/24");
      expect((await failedAuth(server, sb, null)).ip).toBe("127.0.0.0/24");
      // Nothing of the full address is kept anywhere in the row.
      const all = JSON.stringify(rows(sb));
      expect(all).not.toContain("81.2.69.142");
      expect(all).not.toContain("8888");
    });
    await withServer("[audit]\nipv4_prefix = 16\nipv6_prefix = 32\n", async (server, sb) => {
      expect((await failedAuth(server, sb, "81.2.69.142")).ip).toBe("81.2.0.0/16");
      expect((await failedAuth(server, sb, "2001:4860:4860::8888")).ip).toBe("2001:4860::/32");
    });
  });

  test("a key's last-use address is cut or dropped the same way as the audit log's", async () => {
    const lastUse = (sb: { db: string }) => {
      const d = new Database(sb.db, { readonly: true });
      const row = d.query("SELECT last_used_at, last_used_ip FROM api_keys").get() as { last_used_at: number | null; last_used_ip: string | null };
      d.close();
      return row;
    };
    for (const [toml, expected] of [["[audit]\nipv4_prefix = 24\n", "127.0.0.0/24"], ["[audit]\nips = false\n", null]] as const) {
      await withServer(toml, async (server, sb) => {
        const key = await createKey(sb);
        expect((await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } })).status).toBe(201);
        await waitFor(() => lastUse(sb).last_used_at !== null, "the key's last use");
        expect(lastUse(sb).last_used_ip).toBe(expected);
      });
    }
  });

  test("ips = false stores no address but keeps the location; location = false stores no location", async () => {
    await withServer("[audit]\nips = false\n", async (server, sb) => {
      expect(where(await failedAuth(server, sb, "81.2.69.142"))).toEqual({ ip: null, country_code: "GB", country_name: "United Kingdom", continent: "Europe" });
      expect(where(await failedAuth(server, sb, null))).toEqual({ ip: null, ...NOWHERE });
      expect(JSON.stringify(rows(sb))).not.toContain("81.2.69");
    });
    await withServer("[audit]\nlocation = false\n", async (server, sb) => {
      expect(where(await failedAuth(server, sb, "81.2.69.142"))).toEqual({ ip: "81.2.69.142", ...NOWHERE });
    });
  });
});
