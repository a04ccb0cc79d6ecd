import { openContext } from "../bootstrap.ts";
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

/** Opens config and database, runs `fn`, and always closes the database. */
export async function withContext<T>(args: { config?: string }, fn: (ctx: AppContext) => T | Promise<T>): Promise<T> {
  const ctx = openContext(args.config);
  try {
    return await fn(ctx);
  } finally {
    ctx.db.close();
  }
}

export function requireHost(ctx: AppContext, name: string | undefined): HostConfig {
  if (!name) throw new CliError("a HOST argument is required");
  const host = Object.hasOwn(ctx.config.hosts, name) ? ctx.config.hosts[name] : undefined;
  if (!host) throw new CliError(`host '${name}' is not configured (known: ${Object.keys(ctx.config.hosts).join(", ")})`);
  return host;
}

/** citty gives a repeated string option as an array, a single one as a string. */
export function many(value: unknown): string[] {
  if (value === undefined || value === null || value === false) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function isoTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? "-" : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
