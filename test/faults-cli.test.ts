// The CLI writing the same database while the server is under load: every command succeeds, no request fails, and
// the server sees each change at once (no cache to go stale).
import { describe, expect, test } from "bun:test";
import { cli, createKey, get, sandbox, startServer, type TestServer } from "./helpers.ts";
import { mintLoad } from "./load.ts";

const COMMANDS = 100;
const PARALLEL_CLI = 4;

async function inParallel<T>(n: number, width: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }));
  return out;
}

const mintWith = (server: TestServer, key: string) => get(`${server.url}/invites_api`, { headers: { Authorization: `Bearer ${key}` } });

/** `invited invite create` is built in another branch; this file uses it as soon as the binary has it. */
const hasInviteCreate = await (async () => {
  const r = await cli(["invite", "create", "--help"]); // --help on an unknown command shows the root usage instead
  return r.code === 0 && /USAGE\s+(invited )?invite create/.test(r.stdout);
})();

describe("CLI under server load", () => {
  test(`${COMMANDS} key create commands all succeed and each key works over HTTP at once; deletes take effect at once`, async () => {
    // Lockouts off: the deleted keys' refusals would otherwise lock this one client address out, and their 403s
    // (the proof that a delete took effect) would turn into 429s. (The valid load key would be served either way.)
    const sb = sandbox("[limits]\nauth_failures = 1000000\n");
    const server = await startServer(sb);
    try {
      const loadKey = await createKey(sb, "example.com", "load");
      const load = mintLoad(server.url, loadKey, 16);
      while (load.tokens.length < 100) await Bun.sleep(5);

      const results = await inParallel(COMMANDS, PARALLEL_CLI, async (i) => {
        const r = await cli(["key", "create", "example.com", `cli-${i}`], { config: sb.config });
        const secret = r.stdout.trim();
        const status = r.code === 0 ? (await mintWith(server, secret)).status : 0;
        return { code: r.code, stderr: r.stderr, secret, status };
      });
      expect(results.filter((r) => r.code !== 0 || r.stderr !== "")).toEqual([]);
      expect(results.map((r) => r.status)).toEqual(new Array(COMMANDS).fill(201));
      expect(new Set(results.map((r) => r.secret)).size).toBe(COMMANDS);

      // Delete a quarter of them: each stops working on the very next request.
      const doomed = results.slice(0, COMMANDS / 4);
      const deletes = await inParallel(doomed.length, PARALLEL_CLI, async (i) => {
        const id = doomed[i]!.secret.split("/")[0]!;
        // Key ids may start with "-": "--" keeps the argument parser from reading one as an option.
        const r = await cli(["key", "delete", "--config", sb.config, "example.com", "--", id], { config: null });
        return { code: r.code, stderr: r.stderr, status: (await mintWith(server, doomed[i]!.secret)).status };
      });
      expect(deletes).toEqual(new Array(doomed.length).fill({ code: 0, stderr: "", status: 403 }));
      expect((await mintWith(server, results.at(-1)!.secret)).status).toBe(201);

      await load.stop();
      // The load never saw anything but 201 while 125 CLI processes wrote the same file.
      expect(load.statuses.filter((s) => s !== 201)).toEqual([]);
      expect(load.tokens.length).toBeGreaterThan(100);
      const list = await cli(["key", "list", "example.com"], { config: sb.config });
      expect(list.stdout.trim().split("\n").length).toBe(1 + COMMANDS - COMMANDS / 4);
    } finally {
      await server.stop();
      sb.cleanup();
    }
  }, 120_000);

  // >>> invite create: enabled automatically once `invited invite create` exists (issue 3's branch). The command is
  // expected to print the invite URL (…/invite?TOKEN); the server must show its landing page at once.
  test.if(hasInviteCreate)(`${COMMANDS} invite create commands all succeed and each invite opens at once`, async () => {
    const sb = sandbox();
    const server = await startServer(sb);
    try {
      const load = mintLoad(server.url, await createKey(sb), 16);
      while (load.tokens.length < 100) await Bun.sleep(5);
      const results = await inParallel(COMMANDS, PARALLEL_CLI, async () => {
        const r = await cli(["invite", "create", "example.com"], { config: sb.config });
        const token = /\/invite\?([A-Za-z0-9_-]+)/.exec(r.stdout)?.[1] ?? null;
        const status = token ? (await get(`${server.url}/invite?${token}`)).status : 0;
        return { code: r.code, stderr: r.stderr, status };
      });
      await load.stop();
      expect(results).toEqual(new Array(COMMANDS).fill({ code: 0, stderr: "", status: 200 }));
      expect(load.statuses.filter((s) => s !== 201)).toEqual([]);
    } finally {
      await server.stop();
      sb.cleanup();
    }
  }, 120_000);
  if (!hasInviteCreate) test.todo("invite create under load (waits for `invited invite create`)");
  // <<< invite create
});
