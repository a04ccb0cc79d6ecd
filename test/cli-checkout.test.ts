// The CLI from a checkout (issue 16): `npx invited ...` runs src/main.ts on the project's own Bun, with no build and
// no global Bun, on the same code and database as `npm start`.
import { expect, test } from "bun:test";
import { ROOT, sandbox } from "./helpers.ts";
import { query } from "./invite-helpers.ts";

async function npx(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  // A PATH without this test runner's Bun: the bin script must find the project's own.
  const path = (process.env.PATH ?? "").split(":").filter((p) => !p.includes("node_modules")).join(":");
  const proc = Bun.spawn(["npx", "--no-install", "invited", ...args], { cwd, env: { ...process.env, PATH: path, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

test("npx invited makes a key in the configured database, from the checkout and from a subdirectory", async () => {
  const sb = sandbox();
  try {
    const made = await npx(["key", "create", "example.com", "me", "--config", sb.config], ROOT);
    expect(made.stderr).toBe(`invited: created a new database at ${sb.db}\n`);
    expect(made.code).toBe(0);
    expect(made.stdout).toMatch(/[0-9A-Za-z]+\/[A-Za-z0-9_-]{20,}/);
    expect(query<{ name: string }>(sb, "SELECT name FROM api_keys")).toEqual([{ name: "me" }]);
    const listed = await npx(["key", "list", "example.com", "--config", sb.config], `${ROOT}/src`);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain("me");
  } finally {
    sb.cleanup();
  }
}, 60_000);

test("--help into a pipe has no colour codes, even without NO_COLOR", async () => {
  const env = { ...process.env } as Record<string, string>;
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  const proc = Bun.spawn([process.execPath, `${ROOT}/src/main.ts`, "key", "--help"], { env, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect(out + err).toContain("USAGE invited key");
  expect(out + err).not.toContain("\x1b[");
});
