// The account lifecycle carried downstream with the command and webhook providers: `invited user delete` acts on
// the real server first (delete_command / provision.delete), a refusal or an unreachable server leaves invited's
// account as it was (non-zero exit with the provider's message, provision.failed in the audit log), --local-only
// removes just invited's row. disable/enable are driven through the providers themselves (real processes, real
// HTTP), the way the sign-in and account code call them.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, freePort, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { accountCount, auditEvents, createInvite, query, register } from "./invite-helpers.ts";
import { newSecret, provisionConfigErrorTests, startReceiver } from "./provision-helpers.ts";
import { CommandProvider } from "../src/provisioning/command.ts";
import { WebhookProvider } from "../src/provisioning/webhook.ts";
import { createLogger } from "../src/lib/log.ts";
import type { ProvisionConfig } from "../src/config/index.ts";
import { Browser, alertOf } from "./account-helpers.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PASSWORD = "correct horse battery";

/** A downstream "server" keeping accounts as files: create/passwd read the password from stdin; names starting with "stuck" cannot be deleted. */
const SERVER = `
const [dir, op, target] = process.argv.slice(2);
const fs = require("node:fs");
const user = target.split("@")[0];
const file = dir + "/accounts/" + user;
fs.mkdirSync(dir + "/accounts", { recursive: true });
const stdin = await new Response(Bun.stdin.stream()).text();
fs.appendFileSync(dir + "/calls.jsonl", JSON.stringify({ op, target, stdin }) + "\\n");
if (op === "create") { if (fs.existsSync(file)) process.exit(9); fs.writeFileSync(file, stdin.split("\\n")[0]); }
else if (op === "delete") {
  if (user.startsWith("stuck")) { process.stderr.write("cannot delete " + user + ": account is locked by policy\\n"); process.exit(4); }
  fs.rmSync(file, { force: true });
}
else if (op === "disable") fs.renameSync(file, file + ".disabled");
else if (op === "enable") fs.renameSync(file + ".disabled", file);
`;

function commandToml(dir: string, extra = ""): string {
  const script = join(dir, "server.ts");
  writeFileSync(script, SERVER);
  const argv = (op: string) => JSON.stringify([process.execPath, script, dir, op, "{username}@{host}"]);
  return `[hosts."example.com"]
public_url = "https://example.com"

[hosts."example.com".provision]
type = "command"
command = ${argv("create")}
delete_command = ${argv("delete")}
disable_command = ${argv("disable")}
enable_command = ${argv("enable")}
stdin = "{password}\\n"
taken_exit_code = 9
${extra}
`;
}

async function setup(toml: (dir: string) => string): Promise<{ sb: Sandbox; server: TestServer }> {
  const sb = sandbox();
  writeFileSync(sb.config, readFileSync(sb.config, "utf8").replace(/\[hosts\.[\s\S]*$/, "") + toml(sb.dir));
  const server = await startServer(sb);
  cleanups.push(() => sb.cleanup(), () => server.stop());
  return { sb, server };
}

async function registered(sb: Sandbox, server: TestServer, name: string): Promise<void> {
  const invite = await createInvite(sb);
  const r = await register(server, invite.token, name, PASSWORD);
  expect(r.status).toBe(200);
}

const downstream = (sb: Sandbox, name: string) => existsSync(join(sb.dir, "accounts", name));

function config(over: Partial<ProvisionConfig>): ProvisionConfig {
  return { type: "command", secrets: [], stdin: "", timeout: 5000, keepPassword: false, takenExitCode: null, ...over };
}

describe("command provider: delete, disable, enable", () => {
  test("user delete runs delete_command first, then removes invited's row; the account is gone on both sides", async () => {
    const { sb, server } = await setup((d) => commandToml(d));
    await registered(sb, server, "alice");
    expect(downstream(sb, "alice")).toBe(true);
    const r = await cli(["user", "delete", "example.com", "alice"], { config: sb.config });
    expect(r.stderr).toContain("deleted on the real server");
    expect(r.code).toBe(0);
    expect(downstream(sb, "alice")).toBe(false);
    expect(accountCount(sb)).toBe(0);
    const call = readFileSync(join(sb.dir, "calls.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l)).at(-1);
    expect(call).toEqual({ op: "delete", target: "alice@example.com", stdin: "" });
    expect(auditEvents(sb, "account.deleted")).toHaveLength(1);
    // The name is free on both sides again.
    await registered(sb, server, "alice");
  });

  test("a refusal downstream: exit 1 with the command's message, invited's account stays, provision.failed recorded", async () => {
    const { sb, server } = await setup((d) => commandToml(d));
    await registered(sb, server, "stuckbob");
    const r = await cli(["user", "delete", "example.com", "stuckbob"], { config: sb.config });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("account is locked by policy");
    expect(r.stderr).toContain("invited's account is unchanged");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(accountCount(sb)).toBe(1);
    expect(downstream(sb, "stuckbob")).toBe(true);
    const failed = auditEvents(sb, "provision.failed").at(-1)!;
    expect(failed.user).toBe("stuckbob");
    expect(JSON.parse(failed.details)).toEqual({ kind: "delete", provider: "command", reason: "exit_4" });
    expect(auditEvents(sb, "account.deleted")).toHaveLength(0);
  });

  test("--local-only removes invited's row alone, on purpose; the downstream account is untouched", async () => {
    const { sb, server } = await setup((d) => commandToml(d));
    await registered(sb, server, "stuckcarl");
    const r = await cli(["user", "delete", "example.com", "stuckcarl", "--local-only"], { config: sb.config });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("--local-only");
    expect(accountCount(sb)).toBe(0);
    expect(downstream(sb, "stuckcarl")).toBe(true);
  });

  test("no delete_command: deletion is refused as not supported, nothing changes", async () => {
    const { sb, server } = await setup((d) => commandToml(d).replace(/^delete_command = .*$/m, ""));
    await registered(sb, server, "dora");
    const r = await cli(["user", "delete", "example.com", "dora"], { config: sb.config });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no delete_command is configured");
    expect(accountCount(sb)).toBe(1);
    expect(JSON.parse(auditEvents(sb, "provision.failed").at(-1)!.details)).toMatchObject({ kind: "delete", reason: "not_supported" });
  });

  test("an unknown account: exit 1, no command runs", async () => {
    const { sb } = await setup((d) => commandToml(d));
    const r = await cli(["user", "delete", "example.com", "nobody"], { config: sb.config });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("account not found");
    expect(existsSync(join(sb.dir, "calls.jsonl"))).toBe(false);
  });

  test("disable_command and enable_command get the account and an empty stdin; missing ones are not_supported", async () => {
    const { sb, server } = await setup((d) => commandToml(d));
    await registered(sb, server, "erin");
    const cfg = (await import("../src/config/index.ts")).loadConfig(sb.config).hosts["example.com"]!.provision;
    const p = new CommandProvider(cfg, createLogger());
    const target = { host: "example.com", username: "erin", groups: [], roles: [] };
    expect(await p.disable(target)).toEqual({ result: "done" });
    expect(downstream(sb, "erin")).toBe(false);
    expect(existsSync(join(sb.dir, "accounts", "erin.disabled"))).toBe(true);
    expect(await p.enable(target)).toEqual({ result: "done" });
    expect(downstream(sb, "erin")).toBe(true);
    const bare = new CommandProvider(config({ command: ["true"] }), createLogger());
    for (const op of ["disable", "enable", "delete"] as const) {
      expect(await bare[op](target)).toMatchObject({ result: "failed", reason: "not_supported" });
    }
    // A command that is not there at all is a failure, not a throw.
    const missing = new CommandProvider(config({ command: ["true"], deleteCommand: ["/nonexistent/delete-user"] }), createLogger());
    expect(await missing.delete(target)).toMatchObject({ result: "failed", reason: "spawn_failed" });
  });
});

describe("user disable / enable and the member's own deletion go downstream first", () => {
  /** Sign-in by the downstream's own files: the password stored by the create command. */
  const verify = (dir: string) => {
    const script = join(dir, "verify.ts");
    writeFileSync(script, `const pw = (await new Response(Bun.stdin.stream()).text()).split("\\n")[0];\nconst f = ${JSON.stringify(dir)} + "/accounts/" + process.argv[2];\nconst fs = require("node:fs");\nprocess.exit(fs.existsSync(f) && fs.readFileSync(f, "utf8") === pw ? 0 : 1);\n`);
    return `\n[hosts."example.com".signin]\ntype = "command"\nverify_command = [${JSON.stringify(process.execPath)}, ${JSON.stringify(script)}, "{username}"]\n`;
  };

  test("user disable runs disable_command before invited's record changes; a failing one leaves both as they were; --local-only on purpose", async () => {
    const { sb, server } = await setup((d) => commandToml(d) + verify(d));
    await registered(sb, server, "ivy");
    const disabledAt = () => query<{ disabled_at: number | null }>(sb, "SELECT disabled_at FROM accounts WHERE username = 'ivy'")[0]!.disabled_at;
    expect((await new Browser(server).signIn("ivy", PASSWORD)).status).toBe(303);
    const off = await cli(["user", "disable", "example.com", "ivy"], { config: sb.config });
    expect(`${off.code} ${off.stderr}`).toStartWith("0 disabled");
    expect(existsSync(join(sb.dir, "accounts", "ivy.disabled"))).toBe(true);
    expect(disabledAt()).not.toBeNull();
    const on = await cli(["user", "enable", "example.com", "ivy"], { config: sb.config });
    expect(`${on.code} ${on.stderr}`).toBe("0 enabled\n");
    expect(downstream(sb, "ivy")).toBe(true);
    expect(disabledAt()).toBeNull();
    // --local-only changes invited's record alone.
    await cli(["user", "disable", "example.com", "ivy", "--local-only"], { config: sb.config });
    expect(disabledAt()).not.toBeNull();
    expect(downstream(sb, "ivy")).toBe(true); // --local-only left the real server alone
    await cli(["user", "enable", "example.com", "ivy", "--local-only"], { config: sb.config });
    // A disable_command that fails (ivy's file is missing downstream): invited stays enabled and says why.
    rmSync(join(sb.dir, "accounts", "ivy"));
    const refused = await cli(["user", "disable", "example.com", "ivy"], { config: sb.config });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("could not disable the account downstream");
    expect(refused.stderr).toContain("--local-only");
    expect(disabledAt()).toBeNull();
    expect(JSON.parse(auditEvents(sb, "provision.failed").at(-1)!.details)).toMatchObject({ kind: "disable", provider: "command" });
  });

  test("no disable_command: user disable says not_supported and changes nothing", async () => {
    const { sb, server } = await setup((d) => commandToml(d).replace(/^disable_command = .*$/m, ""));
    await registered(sb, server, "jo");
    const r = await cli(["user", "disable", "example.com", "jo"], { config: sb.config });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no disable_command is configured");
    expect(query<{ disabled_at: number | null }>(sb, "SELECT disabled_at FROM accounts WHERE username = 'jo'")[0]!.disabled_at).toBeNull();
  });

  test("the member's own 'delete my account': deleted downstream first; a refusal keeps the account and says so on the page", async () => {
    const { sb, server } = await setup((d) => commandToml(d) + verify(d));
    await registered(sb, server, "kim");
    const b = new Browser(server);
    expect((await b.signIn("kim", PASSWORD)).status).toBe(303);
    await b.get("/account/delete");
    const r = await b.post("/account/delete", { password: PASSWORD });
    expect(r.status).toBe(303);
    expect(downstream(sb, "kim")).toBe(false);
    expect(exists(sb, "kim")).toBe(false);

    await registered(sb, server, "stuckkate");
    const c = new Browser(server);
    expect((await c.signIn("stuckkate", PASSWORD)).status).toBe(303);
    await c.get("/account/delete");
    const refused = await c.post("/account/delete", { password: PASSWORD });
    expect(refused.status).toBe(503);
    expect(alertOf(refused.text)).toContain("nothing was deleted");
    expect(exists(sb, "stuckkate")).toBe(true);
    expect(downstream(sb, "stuckkate")).toBe(true);
    expect((await c.get("/account")).status).toBe(200); // still signed in: nothing happened
  });
});

const exists = (sb: Sandbox, name: string) => query(sb, "SELECT 1 FROM accounts WHERE username = ?", name).length === 1;

describe("command provider config", () => {
  provisionConfigErrorTests([
    ["delete_command must be a list", 'type = "command"\ncommand = ["true"]\ndelete_command = "rm"', /delete_command' must be a list of strings/],
    ["disable_command must not be empty", 'type = "command"\ncommand = ["true"]\ndisable_command = []', /disable_command' must be a non-empty list/],
    ["enable_command must not take the password", 'type = "command"\ncommand = ["true"]\nenable_command = ["x", "{password}"]', /enable_command' must not contain \{password\}/],
    ["delete_command placeholders are checked", 'type = "command"\ncommand = ["true"]\ndelete_command = ["x", "{nope}"]', /unknown placeholder \{nope\}/],
  ]);
});

describe("webhook provider: provision.delete, provision.disable, provision.enable", () => {
  function webhookToml(url: string, secret: string): string {
    return `[hosts."example.com"]
public_url = "https://example.com"

[hosts."example.com".provision]
type = "webhook"
url = ${JSON.stringify(url)}
secret = ${JSON.stringify(secret)}
timeout = "2s"
`;
  }

  test("user delete sends a signed provision.delete without a password; 2xx deletes invited's row", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret]);
    cleanups.push(() => receiver.stop());
    const { sb, server } = await setup(() => webhookToml(receiver.url, secret));
    await registered(sb, server, "alice");
    const r = await cli(["user", "delete", "example.com", "alice"], { config: sb.config });
    expect(r.code).toBe(0);
    const req = receiver.received.at(-1)!;
    expect(req.verifiedWith).toBe(secret);
    expect(req.json).toEqual({ type: "provision.delete", host: "example.com", username: "alice", groups: [], roles: [] });
    expect(req.body).not.toContain(PASSWORD);
    expect(accountCount(sb)).toBe(0);
  });

  test("a 500 or an unreachable receiver: the account stays, exit 1 with the reason, audit provision.failed", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret]);
    cleanups.push(() => receiver.stop());
    const { sb, server } = await setup(() => webhookToml(receiver.url, secret));
    await registered(sb, server, "bob");
    receiver.setHandler(() => new Response("no", { status: 500 }));
    let r = await cli(["user", "delete", "example.com", "bob"], { config: sb.config });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("answered 500 to provision.delete");
    expect(accountCount(sb)).toBe(1);
    expect(JSON.parse(auditEvents(sb, "provision.failed").at(-1)!.details)).toEqual({ kind: "delete", provider: "webhook", reason: "http_500" });
    // 409 means nothing special for a delete.
    receiver.setHandler(() => new Response("no", { status: 409 }));
    r = await cli(["user", "delete", "example.com", "bob"], { config: sb.config });
    expect(r.code).toBe(1);
    expect(accountCount(sb)).toBe(1);

    receiver.stop();
    r = await cli(["user", "delete", "example.com", "bob"], { config: sb.config });
    expect(r.code).toBe(1);
    expect(JSON.parse(auditEvents(sb, "provision.failed").at(-1)!.details)).toMatchObject({ kind: "delete", reason: "network_error" });
    expect(accountCount(sb)).toBe(1);
  });

  test("disable and enable are signed requests of their own type", async () => {
    const secret = newSecret();
    const receiver = startReceiver([secret]);
    cleanups.push(() => receiver.stop());
    const p = new WebhookProvider({ ...config({ type: "webhook" }), url: receiver.url, secrets: [secret] });
    const target = { host: "example.com", username: "carol", groups: ["family"], roles: ["member"] };
    expect(await p.disable(target)).toEqual({ result: "done" });
    expect(await p.enable(target)).toEqual({ result: "done" });
    expect(receiver.received.map((r) => [r.json.type, r.verifiedWith === secret])).toEqual([
      ["provision.disable", true],
      ["provision.enable", true],
    ]);
    expect(receiver.received[0]!.json).toEqual({ type: "provision.disable", host: "example.com", username: "carol", groups: ["family"], roles: ["member"] });
    receiver.setHandler(() => new Response(null, { status: 302, headers: { location: "http://example.net/" } }));
    expect(await p.disable(target)).toMatchObject({ result: "failed", reason: "http_302" });
    const dead = new WebhookProvider({ ...config({ type: "webhook", timeout: 500 }), url: `http://127.0.0.1:${freePort()}/hook`, secrets: [secret] });
    expect(await dead.enable(target)).toMatchObject({ result: "failed", reason: "network_error" });
  });
});
