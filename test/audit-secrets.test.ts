// No secret reaches the database, its WAL, the server's output or the audit viewer: every API token, invite token and
// password used is searched for in the raw bytes. The tokens' SHA-256 hashes must be there, which proves the right
// files were read. (Passwords are stored only as Bun.password hashes, salted, so no such control exists for them.)
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { cli, createKey, get, rawRequest, sandbox, startServer } from "./helpers.ts";
import { count, waitFor } from "./audit-support.ts";
import { createInvite, postForm, register } from "./invite-helpers.ts";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

function databaseBytes(db: string): string {
  // latin1 keeps every byte as one char, so an ASCII token is found wherever its bytes are.
  return ["", "-wal", "-shm", "-journal"].map((suffix) => (existsSync(db + suffix) ? readFileSync(db + suffix).toString("latin1") : "")).join("\n");
}

describe("secrets", () => {
  test("API tokens, invite tokens and passwords appear nowhere: database, WAL, server output, audit viewer", async () => {
    const sb = sandbox();
    const apiTokens: string[] = [];
    const inviteTokens: string[] = [];
    const passwords: string[] = [];
    try {
      const server = await startServer(sb);
      let whileRunning = "";
      let viewer = "";
      try {
        const keys = [await createKey(sb, "example.com", "first"), await createKey(sb, "example.com", "second")];
        for (const k of keys) apiTokens.push(k.split("/")[1]!);
        const [first, second] = keys as [string, string];
        const tokenOf = (r: Response) => {
          const location = r.headers.get("location")!;
          expect(location).toMatch(/^https:\/\/example\.com\/invite\?[A-Za-z0-9_-]{20,}$/);
          return new URL(location).search.slice(1);
        };
        // Bearer, ?key=, POST, redirect.
        for (const r of [
          await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${first}` } }),
          await get(`${server.url}/invites_api?key=${encodeURIComponent(second)}`),
          await get(`${server.url}/invites_api?key=${second}&redirect=true`),
          await get(`${server.url}/invites_api`, { method: "POST", headers: { Authorization: `Bearer ${second}` } }),
        ]) {
          expect([201, 303]).toContain(r.status);
          inviteTokens.push(tokenOf(r));
        }
        // A percent-encoded name, or one after a doubled `?`, is still `key` to the handler: redacted as one.
        const encoded = await get(`${server.url}/invites_api?%6Bey=${second}`);
        expect(encoded.status).toBe(201);
        inviteTokens.push(tokenOf(encoded));
        const doubled = await get(`${server.url}/invites_api??key=${first}`);
        expect(doubled.status).toBe(201);
        inviteTokens.push(tokenOf(doubled));
        // Refused keys: the right id with a wrong token, and a wrong token in the query.
        const wrongA = "W".repeat(43);
        const wrongB = "Zq9".repeat(15);
        apiTokens.push(wrongA, wrongB);
        expect((await get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${first.split("/")[0]}/${wrongA}` } })).status).toBe(403);
        expect((await get(`${server.url}/invites_api?key=${second.split("/")[0]}/${wrongB}`)).status).toBe(403);
        // Landing pages, valid and unknown tokens.
        for (const t of inviteTokens) expect((await get(`${server.url}/invite?${t}`)).status).toBe(200);
        const unknownInvite = "U".repeat(22);
        inviteTokens.push(unknownInvite);
        expect((await get(`${server.url}/invite?${unknownInvite}`)).status).toBe(404);
        // With a trailing slash the landing page redirects; a mistyped path answers 404. Both carry the token.
        expect((await get(`${server.url}/invite/?${inviteTokens[1]}`)).status).toBe(308);
        expect((await get(`${server.url}/Invite?${inviteTokens[2]}`)).status).toBe(404);
        // A raw `#` (fetch() would strip it) ends the token the page reads, and must not shield it from redaction.
        expect(await rawRequest(server.port, `GET /invite?${inviteTokens[3]}#=x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).toStartWith("HTTP/1.1 200");

        // Invites from the CLI, accounts registered on the web (the token in the form and in ?t=), a refused
        // registration, and a password reset.
        const cliInvites = [await createInvite(sb), await createInvite(sb), await createInvite(sb)];
        inviteTokens.push(...cliInvites.map((i) => i.token));
        passwords.push("Tr0ub4dor&3-first", "correct-horse-second", "refused-password-3", "reset-password-fourth");
        expect((await get(`${server.url}/register?t=${cliInvites[0]!.token}`)).status).toBe(200);
        expect((await get(`${server.url}/register?%74=${cliInvites[1]!.token}`)).status).toBe(200);
        expect((await get(`${server.url}/register??t=${cliInvites[1]!.token}`)).status).toBe(303); // not read as t=, but still a token
        expect((await register(server, cliInvites[0]!.token, "carol", passwords[0]!)).status).toBe(200);
        expect((await postForm(server, { user: "dave", password: passwords[1]! }, {}, `/register?t=${cliInvites[1]!.token}`)).status).toBe(200);
        expect((await register(server, cliInvites[2]!.token, "carol", passwords[2]!)).status).toBe(409);
        const reset = await createInvite(sb, ["--reset", "carol"]);
        inviteTokens.push(reset.token);
        expect((await postForm(server, { token: reset.token, user: "carol", password: passwords[3]! })).status).toBe(200);
        // An API invite used for registration too.
        expect((await register(server, inviteTokens[0]!, "erin", "api-invite-password-5")).status).toBe(200);
        passwords.push("api-invite-password-5");

        await waitFor(() => count(sb, "type = 'key.auth_failed'") === 2 && count(sb, "type = 'invite.created'") === 10 && count(sb, "type = 'registration.refused'") === 1, "the events");
        whileRunning = databaseBytes(sb.db);
        const v1 = await cli(["audit", "example.com", "--json", "--limit", "100"], { config: sb.config });
        const v2 = await cli(["audit", "example.com", "--limit", "100"], { config: sb.config });
        viewer = v1.stdout + v1.stderr + v2.stdout + v2.stderr;
        expect(v1.stdout.split("\n").filter(Boolean).length).toBeGreaterThanOrEqual(9);
      } finally {
        expect(await server.stop()).toBe(0);
      }
      const afterStop = databaseBytes(sb.db);
      const output = server.output();
      expect(output).toContain("/invites_api?key=[redacted]"); // the request log ran, redacted
      expect(output).toContain("/invite?[redacted]");
      expect(output).toContain("/register?t=[redacted]");
      expect(output).toContain("/invites_api?%6Bey=[redacted] 201");
      expect(output).toContain("/invite/?[redacted] 308");
      expect(output).toContain("/Invite?[redacted] 404");
      expect(output).toContain("/register?%74=[redacted] 200");
      expect(output).toContain("/invites_api??key=[redacted] 201");
      expect(output).toContain("/invite?[redacted]#=x 200");
      expect(output).toContain("/register??t=[redacted] 303");

      for (const [name, haystack] of [
        ["database while running", whileRunning],
        ["database after stop", afterStop],
        ["server output", output],
        ["audit viewer", viewer],
      ] as const) {
        for (const secret of [...apiTokens, ...inviteTokens, ...passwords]) {
          if (haystack.includes(secret)) throw new Error(`a secret was found in the ${name}`);
        }
      }
      // Positive control: the stored hashes of the real tokens are in the files that were searched.
      const stored = whileRunning + afterStop;
      for (const secret of [...apiTokens.slice(0, 2), ...inviteTokens.slice(0, 6), ...inviteTokens.slice(7)]) expect(stored).toContain(sha256(secret));
      expect(count(sb, "type IN ('account.registered', 'account.password_reset')")).toBe(4);
    } finally {
      sb.cleanup();
    }
  }, 60_000);
});
