import { defineCommand, type ArgsDef, type CommandDef } from "citty";
import { parseArgs } from "node:util";
import { openContext, type OpenOptions } from "../bootstrap.ts";
import type { AppContext } from "../context.ts";
import type { HostConfig } from "../config/index.ts";

/** A user mistake on the command line: printed as `Error: message`, exit status `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export const configArg = {
  config: { type: "string", description: "Config file (default: $INVITED_CONFIG, else built-in defaults)", valueHint: "FILE" },
} as const;

export const jsonArg = { json: { type: "boolean", description: "Print JSON instead of a table" } } as const;

/** Opens config and database, runs `fn`, and always closes the database. `readOnly` commands never create one. */
export async function withContext<T>(args: { config?: string }, fn: (ctx: AppContext) => T | Promise<T>, opts: OpenOptions = {}): Promise<T> {
  const ctx = openContext(args.config, undefined, opts);
  try {
    return await fn(ctx);
  } finally {
    ctx.db.close();
  }
}

/** For commands that only read (list, show, audit): with no database file they say so instead of creating one. */
export function withReadOnlyContext<T>(args: { config?: string }, fn: (ctx: AppContext) => T | Promise<T>): Promise<T> {
  return withContext(args, fn, { readOnly: true });
}

export function requireHost(ctx: AppContext, name: string | undefined): HostConfig {
  if (!name) throw new CliError("a HOST argument is required");
  const host = Object.hasOwn(ctx.config.hosts, name) ? ctx.config.hosts[name] : undefined;
  if (!host) throw new CliError(`host '${name}' is not configured (known: ${Object.keys(ctx.config.hosts).join(", ")})`);
  return host;
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function isoTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? "-" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

type OptionDefs = Record<string, { type?: string; alias?: string | string[] }>;

/**
 * citty parses with node:util parseArgs without `multiple` and without `strict`: a repeated option keeps only its
 * last value and a mistyped option is silently ignored. Commands re-read their raw arguments here (most through
 * strictCommand below): unknown options, extra positional arguments and a repeated single-value option are errors,
 * and the options named in `repeatable` collect every value (`--group a --group b`).
 */
export function strictOptions(rawArgs: string[], defs: OptionDefs, repeatable: string[] = []): Record<string, string | boolean | string[] | undefined> {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = {};
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "positional") continue;
    const short = [def.alias ?? []].flat().find((a) => a.length === 1);
    options[name] = {
      type: def.type === "boolean" ? "boolean" : "string",
      ...(repeatable.includes(name) ? { multiple: true } : {}),
      ...(short ? { short } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rawArgs, options, strict: true, allowPositionals: true, tokens: true });
  } catch (e) {
    throw new CliError(String((e as Error).message).split(". ")[0]!.replace(/\.$/, ""));
  }
  // An extra argument is a mistake, not something to drop: `invite revoke HOST ID1 ID2` must not revoke ID1 alone.
  const allowed = Object.values(defs).filter((d) => d.type === "positional").length;
  if (parsed.positionals.length > allowed) throw new CliError(`unexpected argument '${parsed.positionals[allowed]}' (quote a value that has spaces)`);
  const seen = new Set<string>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== "option" || repeatable.includes(token.name)) continue;
    if (seen.has(token.name)) throw new CliError(`option --${token.name} is given more than once`);
    seen.add(token.name);
  }
  return parsed.values as Record<string, string | boolean | string[] | undefined>;
}

/** Left-aligned columns separated by two spaces; cells have control characters replaced so a value cannot forge lines. */
export function formatTable(header: string[], rows: string[][]): string {
  const clean = (s: string) => s.replace(/[\x00-\x1f\x7f]/g, "?");
  const all = [header, ...rows].map((r) => r.map(clean));
  const widths = header.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? "")].length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i]! - [...c].length))).join("  ").trimEnd()).join("\n") + "\n";
}

/** defineCommand whose options are checked strictly (strictOptions) before `run`: a mistyped option is an error. */
export function strictCommand<const A extends ArgsDef>(def: CommandDef<A>): CommandDef<A> {
  const run = def.run;
  return defineCommand({
    ...def,
    run: (context) => {
      strictOptions(context.rawArgs, (def.args ?? {}) as OptionDefs);
      return run?.(context);
    },
  });
}
