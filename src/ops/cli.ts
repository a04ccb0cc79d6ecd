import { CliError, configArg, printJson, strictCommand } from "../cli/common.ts";
import { loadConfig } from "../config/index.ts";
import { backupDatabase, OpsError, runChecks } from "./service.ts";

export const backupCommand = strictCommand({
  meta: { name: "backup", description: "Write a consistent copy of the database to FILE while the server runs (VACUUM INTO), then verify it" },
  args: {
    file: { type: "positional", description: "Where to write the copy (must not exist unless --force)", required: true },
    force: { type: "boolean", description: "Replace FILE if it exists" },
    ...configArg,
  },
  run({ args }) {
    const config = loadConfig(args.config);
    try {
      const r = backupDatabase(config.database.path, args.file, { force: Boolean(args.force), busyTimeout: config.database.busyTimeout });
      const counts = Object.entries(r.counts)
        .map(([t, n]) => `${t} ${n}`)
        .join(", ");
      process.stdout.write(`backup written to ${r.file} (${r.bytes} bytes, integrity_check ${r.integrity}; ${counts}) in ${r.ms} ms\n`);
    } catch (e) {
      if (e instanceof OpsError) throw new CliError(e.message);
      throw e;
    }
  },
});

export const checkCommand = strictCommand({
  meta: { name: "check", description: "Check config, database (integrity, migrations) and GeoIP; print the effective settings. Exit 1 on any problem" },
  args: {
    quick: { type: "boolean", description: "Use quick_check instead of the full integrity_check (faster on big databases)" },
    json: { type: "boolean", description: "Print the report as JSON" },
    ...configArg,
  },
  run({ args }) {
    const report = runChecks(loadConfig(args.config), { quick: Boolean(args.quick) });
    if (args.json) {
      printJson({ ok: report.ok, checks: report.items, settings: Object.fromEntries(report.settings) });
    } else {
      const width = Math.max(...report.items.map((i) => i.name.length));
      for (const i of report.items) process.stdout.write(`${i.name.padEnd(width)}  ${i.status.padEnd(4)}  ${i.detail}\n`);
      process.stdout.write("\neffective settings (secrets masked):\n");
      for (const [k, v] of report.settings) {
        const text = v !== null ? JSON.stringify(v) : k === "config_file" ? "(none: built-in defaults)" : "(not set)";
        process.stdout.write(`  ${k} = ${text}\n`);
      }
    }
    const failed = report.items.filter((i) => i.status === "fail");
    if (failed.length > 0) throw new CliError(`check failed: ${failed.map((i) => i.name).join(", ")}`);
  },
});
