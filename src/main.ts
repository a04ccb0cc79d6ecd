import "./cli/no-color.ts";
import { defineCommand, runCommand, showUsage } from "citty";
import { ConfigError } from "./config/index.ts";
import { CliError } from "./cli/common.ts";
import { serveCommand } from "./http/cli.ts";
import { keyCommand } from "./keys/cli.ts";
import { inviteCommand } from "./invites/cli.ts";
import { userCommand } from "./accounts/cli.ts";
import { auditCommand } from "./audit/cli.ts";
import { backupCommand, checkCommand } from "./ops/cli.ts";
import { webhooksCommand } from "./notify/cli.ts";
import { VERSION, versionText } from "./version.ts";

export const main = defineCommand({
  meta: { name: "invited", version: VERSION, description: "Self-hosted invite service" },
  subCommands: { serve: serveCommand, key: keyCommand, invite: inviteCommand, user: userCommand, audit: auditCommand, backup: backupCommand, check: checkCommand, webhooks: webhooksCommand },
});

async function run(argv: string[]): Promise<number> {
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
    process.stdout.write(versionText() + "\n");
    return 0;
  }
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h")) {
    await showUsage(...(await resolve(argv)));
    return argv.length === 0 ? 1 : 0;
  }
  try {
    await runCommand(main, { rawArgs: argv });
    return 0;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`invited: config error: ${e.message}\n`);
      return 2;
    }
    if (e instanceof CliError) {
      process.stderr.write(`Error: ${e.message}\n`);
      return e.exitCode;
    }
    if ((e as { name?: string }).name === "CLIError") {
      await showUsage(...(await resolve(argv)));
      process.stderr.write(`Error: ${(e as Error).message}\n`);
      return 1;
    }
    // citty's own argument parser can trip over a value such as "-AbC123" (it reads it as a cluster of short options).
    if (e instanceof TypeError && /at parseArgs \(/.test(e.stack ?? "")) {
      process.stderr.write(`Error: cannot read the arguments; a value that starts with "-" must come after "--" (e.g. invited key delete HOST -- -ID)\n`);
      return 1;
    }
    process.stderr.write(`Error: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  }
}

/** The deepest sub-command the argv names, for usage output. */
async function resolve(argv: string[]): Promise<[typeof main, typeof main?]> {
  let cmd = main as any;
  let parent: any = undefined;
  for (const word of argv) {
    const subs = typeof cmd.subCommands === "function" ? await cmd.subCommands() : cmd.subCommands;
    if (!subs || !Object.hasOwn(subs, word)) break;
    parent = cmd;
    cmd = subs[word];
  }
  return [cmd, parent];
}

if (import.meta.main) {
  // No top-level await: bytecode builds are CommonJS. Commands end here so open handles cannot keep the process alive.
  run(process.argv.slice(2)).then((code) => process.exit(code));
}
