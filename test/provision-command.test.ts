// Command provider with a real child process: argv substitution without a shell, the password only on stdin,
// exit codes, timeouts that kill, stderr to the server log only, resets and config checks.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { auditEvents, createInvite, inviteRow, query, register } from "./invite-helpers.ts";
import { eventually, provisionConfigErrorTests } from "./provision-helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PASSWORD = "correct horse battery";

/**
 * The downstream "server": records what it was given (argv, stdin, whether the password is anywhere in its
 * environment) and behaves by the username it was asked to create.
 */
const RECORDER = `
const [dir, ...args] = process.argv.slice(2);
const stdin = await new Response(Bun.stdin.stream()).text();
const password = stdin.split("\\n")[0];
const target = args.find((a) => a.includes("@")) ?? "";
const user = target.split("@")[0];
const fs = require("node:fs");
fs.appendFileSync(dir + "/calls.jsonl", JSON.stringify({ args, stdin, envHasPassword: password !== "" && Object.values(process.env).some((v) => String(v).includes(password)), pid: process.pid }) + "\\n");
if (user.startsWith("slow")) {
  fs.writeFileSync(dir + "/slow.pid", String(process.pid));
  await Bun.sleep(20000);
  fs.writeFileSync(dir + "/slow.finished", "yes");
} else if (user.startsWith("fail")) {
  process.stderr.write("error: could not create " + user + " with password " + password + "\\n");
  process.exit(3);
} else if (user.startsWith("taken")) {
  process.stderr.write("user exists\\n");
  process.exit(9);
} else if (user.startsWith("orphan")) {
  // Leaves a child holding stdout and stderr open after this process exits.
  Bun.spawn(["sleep", "30"], { stdout: "inherit", stderr: "inherit", stdin: "ignore" }).unref();
  process.exit(0);
}
`;

function hostToml(dir: string, provision: string): string {
  const script = join(dir, "recorder.ts");
  writeFileSync(script, RECORDER);
  const bun = JSON.stringify(process.execPath);
  return `[hosts."example.com"]
public_url = "https://example.com"

[hosts."example.com".provision]
type = "command"
command = [${bun}, ${JSON.stringify(script)}, ${JSON.stringify(dir)}, "{username}@{host}", "--groups={groups}", "{roles}"]
${provision}
`;
}

async function setup(provision = ""): Promise<{ sb: Sandbox; server: TestServer }> {
  const sb = sandbox();
  writeFileSync(sb.config, readFileSync(sb.config, "utf8").replace(/\[hosts\.[\s\S]*$/, "") + hostToml(sb.dir, provision));
  const server = await startServer(sb);
  cleanups.push(() => sb.cleanup(), () => server.stop());
  return { sb, server };
}

function calls(sb: Sandbox): { args: string[]; stdin: string; envHasPassword: boolean; pid: number }[] {
  const file = join(sb.dir, "calls.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

describe("command provider", () => {
  test("exit 0: placeholders are whole arguments (no shell), the password is only on stdin, no hash is kept", async () => {
    const { sb, server } = await setup();
    const invite = await createInvite(sb, ["--group", "a", "--group", "b", "--role", "moderator"]);
    const name = "x;{touch,pwned};$(id)|{host}*`ls`"; // bash would run "touch pwned..."; names are lower case already
    const r = await register(server, invite.token, name, PASSWORD);
    expect(r.status).toBe(200);
    const [call] = calls(sb);
    expect(call!.args).toEqual([`${name}@example.com`, "--groups=a,b", "moderator"]);
    expect(call!.stdin).toBe(`${PASSWORD}\n${PASSWORD}\n`);
    expect(call!.args.join(" ")).not.toContain(PASSWORD);
    expect(call!.envHasPassword).toBe(false);
    expect(readdirSync(sb.dir).filter((f) => f.startsWith("pwned"))).toEqual([]);
    const [account] = query<{ username: string; password_hash: string | null }>(sb, "SELECT * FROM accounts");
    expect(account).toEqual(expect.objectContaining({ username: name, password_hash: null }));
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 1, reserved: 0 });
  });

  test("a custom stdin format", async () => {
    const { sb, server } = await setup(`stdin = "{password}\\nuser={username} host={host}\\n"`);
    const invite = await createInvite(sb);
    expect((await register(server, invite.token, "lena", PASSWORD)).status).toBe(200);
    expect(calls(sb)[0]!.stdin).toBe(`${PASSWORD}\nuser=lena host=example.com\n`);
  });

  test("non-zero exit: 'please try again'; stderr goes to the server log (password blanked), never to the page or the audit log", async () => {
    const { sb, server } = await setup();
    const invite = await createInvite(sb);
    const r = await register(server, invite.token, "failing", PASSWORD);
    expect(r.status).toBe(503);
    const page = await r.text();
    expect(page).toContain("please try again");
    expect(page).not.toContain("could not create");
    const failed = auditEvents(sb, "provision.failed");
    expect(JSON.parse(failed[0]!.details)).toEqual({ invite_id: invite.id, kind: "account", provider: "command", reason: "exit_3" });
    await eventually(() => server.output().includes("could not create failing"), 5000, "stderr in the server log");
    expect(server.output()).toContain("with password [password]");
    expect(server.output()).not.toContain(PASSWORD);
    expect(JSON.stringify(query(sb, "SELECT * FROM audit_events"))).not.toContain("could not create");
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
    expect(query(sb, "SELECT * FROM accounts")).toHaveLength(0);
  });

  test("timeout: the process is killed, the use released", async () => {
    const { sb, server } = await setup(`timeout = "1s"`);
    const invite = await createInvite(sb);
    const r = await register(server, invite.token, "slowpoke", PASSWORD);
    expect(r.status).toBe(503);
    expect(JSON.parse(auditEvents(sb, "provision.failed")[0]!.details).reason).toBe("timeout");
    const pid = Number(readFileSync(join(sb.dir, "slow.pid"), "utf8"));
    expect(() => process.kill(pid, 0)).toThrow(); // gone
    expect(existsSync(join(sb.dir, "slow.finished"))).toBe(false);
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
  });

  test("taken_exit_code means the name is taken downstream: 'already in use'", async () => {
    const { sb, server } = await setup(`taken_exit_code = 9`);
    const invite = await createInvite(sb);
    const r = await register(server, invite.token, "taken1", PASSWORD);
    expect(r.status).toBe(409);
    expect(await r.text()).toContain("already in use");
    expect(inviteRow(sb, invite.id)).toMatchObject({ uses: 0, reserved: 0 });
    expect(auditEvents(sb, "provision.failed")).toHaveLength(0);
  });

  test("without taken_exit_code the same exit status is an ordinary failure", async () => {
    const { sb, server } = await setup();
    const invite = await createInvite(sb);
    expect((await register(server, invite.token, "taken2", PASSWORD)).status).toBe(503);
    expect(JSON.parse(auditEvents(sb, "provision.failed")[0]!.details).reason).toBe("exit_9");
  });

  test("a child left holding the pipes does not hang the registration", async () => {
    const { sb, server } = await setup(`timeout = "20s"`);
    const invite = await createInvite(sb);
    const started = Date.now();
    expect((await register(server, invite.token, "orphan", PASSWORD)).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(15_000); // the child sleeps 30 s
  });

  test("a command that cannot start is a failure, not a crash", async () => {
    const sb = sandbox(`[hosts."example.com"]\npublic_url = "https://example.com"\n[hosts."example.com".provision]\ntype = "command"\ncommand = ["/nonexistent/adduser", "{username}"]\n`);
    const server = await startServer(sb);
    cleanups.push(() => sb.cleanup(), () => server.stop());
    const invite = await createInvite(sb);
    expect((await register(server, invite.token, "nina", PASSWORD)).status).toBe(503);
    expect(JSON.parse(auditEvents(sb, "provision.failed")[0]!.details).reason).toBe("spawn_failed");
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  test("a username starting with '-' is refused before any command runs (it could pass for an option)", async () => {
    const { sb, server } = await setup();
    const invite = await createInvite(sb);
    const r = await register(server, invite.token, "--help", PASSWORD);
    expect(r.status).toBe(400);
    expect(calls(sb)).toHaveLength(0);
    expect(JSON.parse(auditEvents(sb, "registration.refused")[0]!.details).reason).toBe("username_invalid");
    // Nor can an invite be bound to such a name, which would make an invite nobody can use.
    const bound = await cli(["invite", "create", "example.com", "--username=-rf"], { config: sb.config });
    expect(bound.code).toBe(1);
    expect(bound.stderr).toContain("username must not start with '-' on this host");
  });

  test("password reset runs reset_command with the new password on stdin; without reset_command resets fail", async () => {
    const { sb, server } = await setup();
    const invite = await createInvite(sb);
    expect((await register(server, invite.token, "olga", PASSWORD)).status).toBe(200);
    const reset = await createInvite(sb, ["--reset", "olga"]);
    const r = await register(server, reset.token, "olga", "a new password here");
    expect(r.status).toBe(503);
    expect(JSON.parse(auditEvents(sb, "provision.failed")[0]!.details)).toMatchObject({ kind: "reset", reason: "reset_not_configured" });
    expect(inviteRow(sb, reset.id)).toMatchObject({ uses: 0, reserved: 0 });
    expect(calls(sb)).toHaveLength(1);
    await server.stop();

    // Now with a reset command.
    const script = join(sb.dir, "recorder.ts");
    const text = readFileSync(sb.config, "utf8") + `reset_command = [${JSON.stringify(process.execPath)}, ${JSON.stringify(script)}, ${JSON.stringify(sb.dir)}, "passwd", "{username}@{host}"]\n`;
    writeFileSync(sb.config, text);
    const again = await startServer(sb);
    cleanups.push(() => again.stop());
    expect((await register(again, reset.token, "olga", "a new password here")).status).toBe(200);
    const last = calls(sb).at(-1)!;
    expect(last.args).toEqual(["passwd", "olga@example.com"]);
    expect(last.stdin).toBe("a new password here\na new password here\n");
    expect(inviteRow(sb, reset.id)).toMatchObject({ uses: 1, reserved: 0 });
    expect(auditEvents(sb, "account.password_reset")).toHaveLength(1);
  });
});

describe("command provider config", () => {
  const cases: [string, string, RegExp][] = [
    ["no command", `type = "command"`, /provision\.command' is required/],
    ["empty command", `type = "command"\ncommand = []`, /provision\.command' is required/],
    ["password placeholder in argv", `type = "command"\ncommand = ["adduser", "{username}", "{password}"]`, /provision\.command' must not contain \{password\}/],
    ["password placeholder in reset_command", `type = "command"\ncommand = ["adduser"]\nreset_command = ["passwd", "--pw={password}"]`, /reset_command' must not contain \{password\}/],
    ["unknown placeholder", `type = "command"\ncommand = ["adduser", "{user}"]`, /unknown placeholder \{user\}/],
    ["unknown placeholder in stdin", `type = "command"\ncommand = ["adduser"]\nstdin = "{pass}\\n"`, /provision\.stdin' has an unknown placeholder \{pass\}/],
    ["command not a list", `type = "command"\ncommand = "adduser {username}"`, /provision\.command' must be a list/],
    ["taken_exit_code 0", `type = "command"\ncommand = ["adduser"]\ntaken_exit_code = 0`, /taken_exit_code' must be between 1 and 255/],
  ];
  provisionConfigErrorTests(cases);
});
