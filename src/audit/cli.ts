import { defineCommand } from "citty";
import { CliError, configArg, requireHost, withContext, withReadOnlyContext } from "../cli/common.ts";
import { parseDuration, formatDuration } from "../lib/duration.ts";
import { AUDIT_TYPES, DEFAULT_QUERY_LIMIT, queryEvents, type AuditQuery } from "./service.ts";
import { pruneConfigured } from "./retention.ts";
import { normaliseUsername } from "../accounts/service.ts";
import { eventJson, renderTable } from "./table.ts";

export const MAX_LIMIT = 100_000;

const args = {
  target: { type: "positional", required: false, description: "HOST, USER@HOST, or `prune`", valueHint: "HOST|USER@HOST" },
  host: { type: "positional", required: false, description: "With `prune`: only this host's events" },
  global: { type: "boolean", description: "Only host-wide events (no user)", negativeDescription: "Hide host-wide events" },
  limit: { type: "string", description: `At most N events, newest first (default ${DEFAULT_QUERY_LIMIT})`, valueHint: "N" },
  since: { type: "string", description: "Only events of the last 2d, 12h, ... or since a date (2025-01-31)", valueHint: "WHEN" },
  type: { type: "string", description: "Only this event type (e.g. invite.created) or family (key.*)", valueHint: "TYPE" },
  before: { type: "string", description: "Only events older than event ID (paging with --json)", valueHint: "ID" },
  json: { type: "boolean", description: "One JSON object per line" },
  ...configArg,
} as const;

const VIEW_OPTIONS = ["global", "limit", "since", "type", "before", "json"] as const;
const VALUE_OPTIONS = new Set(["limit", "since", "type", "before", "config"]);
const KNOWN_OPTIONS = new Set([...VIEW_OPTIONS, "no-global", "config", "help", "h"]);

/**
 * `invited audit HOST`, `invited audit USER@HOST` (like `prosodyctl mod_audit`) and `invited audit prune [HOST]`.
 * One command with a dispatching first word rather than citty sub-commands, because citty would take every HOST
 * for an unknown sub-command.
 */
export const auditCommand = defineCommand({
  meta: {
    name: "audit",
    description: "Show the audit log of HOST or USER@HOST, newest first; `audit prune [HOST]` deletes expired events now",
  },
  args,
  run: ({ args, rawArgs }) => {
    rejectUnknownOptions(rawArgs);
    const positionals = (args as unknown as { _: string[] })._ ?? [];
    if (args.target === "prune") {
      if (positionals.length > 2) throw new CliError(`unexpected argument '${positionals[2]}'`);
      for (const o of VIEW_OPTIONS) if (args[o] !== undefined) throw new CliError(`--${o} does not apply to 'audit prune'`);
      return prune(args.config, args.host);
    }
    if (!args.target) throw new CliError("a HOST or USER@HOST argument is required (or 'prune [HOST]')");
    if (positionals.length > 1) throw new CliError(`unexpected argument '${positionals[1]}'`);
    return view(args);
  },
});

function rejectUnknownOptions(rawArgs: string[]): void {
  const seen = new Set<string>();
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") break;
    if (!a.startsWith("-") || a === "-") continue;
    const name = a.replace(/^--?/, "").split("=")[0]!;
    if (!KNOWN_OPTIONS.has(name)) throw new CliError(`unknown option '${a.split("=")[0]}' (see invited audit --help)`);
    // As everywhere else in the CLI: a second value (or --global with --no-global) is a mistake, not an override.
    const option = name === "no-global" ? "global" : name;
    if (seen.has(option)) throw new CliError(`option --${option} is given more than once`);
    seen.add(option);
    if (VALUE_OPTIONS.has(name) && !a.includes("=")) {
      const value = rawArgs[i + 1];
      if (value === undefined || (value.startsWith("--") && value.length > 2)) throw new CliError(`option '${a}' needs a value`);
      i++;
    }
  }
}

function parseTarget(target: string): { host: string; user: string | null } {
  const at = target.lastIndexOf("@");
  if (at < 0) return { host: target.toLowerCase(), user: null };
  const user = target.slice(0, at);
  if (!user) throw new CliError(`'${target}' is not USER@HOST`);
  // Accounts are stored normalised (NFKC, lower case), so Alice@host finds alice's events.
  return { host: target.slice(at + 1).toLowerCase(), user: normaliseUsername(user) };
}

export function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_QUERY_LIMIT;
  const n = /^\d{1,7}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(n >= 1 && n <= MAX_LIMIT)) throw new CliError(`--limit must be a whole number from 1 to ${MAX_LIMIT}, got '${text}'`);
  return n;
}

/** `2d`, `12h`, `1d12h` (that long ago) or a date/time like 2025-01-31 or 2025-01-31T12:00:00Z (UTC unless it says). */
export function parseSince(text: string | undefined, now = Date.now()): number | null {
  if (text === undefined) return null;
  const s = text.trim();
  const ago = parseDuration(s);
  if (ago !== null) return now - ago;
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) {
    const iso = s.replace(" ", "T");
    const ms = Date.parse(/T/.test(iso) && !/(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? `${iso}Z` : iso);
    if (Number.isFinite(ms)) return ms;
  }
  throw new CliError(`--since must be a duration like 2d, 12h or 30m, or a date like 2025-01-31, got '${text}'`);
}

export function parseType(text: string | undefined): string | null {
  if (text === undefined) return null;
  const t = text.trim();
  if ((AUDIT_TYPES as readonly string[]).includes(t)) return t;
  if (t.endsWith(".*") && AUDIT_TYPES.some((k) => k.startsWith(t.slice(0, -1)))) return t;
  throw new CliError(`--type '${text}' is not an event type; known: ${AUDIT_TYPES.join(", ")} (or a family like key.*)`);
}

function parseBefore(text: string | undefined): number | null {
  if (text === undefined) return null;
  if (!/^\d{1,15}$/.test(text.trim())) throw new CliError(`--before must be an event id (a whole number), got '${text}'`);
  return Number(text.trim());
}

function view(a: { target?: string; global?: boolean; limit?: string; since?: string; type?: string; before?: string; json?: boolean; config?: string }) {
  const { host, user } = parseTarget(a.target!);
  if (user && a.global === true) throw new CliError("--global shows host-wide events only; it cannot be combined with USER@HOST");
  const query: AuditQuery = {
    host,
    user,
    global: user ? undefined : a.global,
    limit: parseLimit(a.limit),
    since: parseSince(a.since),
    type: parseType(a.type),
    beforeId: parseBefore(a.before),
  };
  return withReadOnlyContext(a, (ctx) => {
    requireHost(ctx, host);
    const events = queryEvents(ctx, query);
    if (a.json) {
      process.stdout.write(events.map((e) => JSON.stringify(eventJson(e)) + "\n").join(""));
      return;
    }
    const width = process.stdout.isTTY && process.stdout.columns ? Math.max(process.stdout.columns, 80) : 80;
    const lines = renderTable(events, width);
    const more = events.length === query.limit ? ` (newest first; --limit to see more)` : "";
    lines.push("-".repeat(lines[1]!.length), `${events.length} event${events.length === 1 ? "" : "s"} shown${more}`);
    process.stdout.write(lines.join("\n") + "\n");
  });
}

function prune(config: string | undefined, hostName: string | undefined) {
  return withContext({ config }, async (ctx) => {
    const host = hostName === undefined ? null : requireHost(ctx, hostName.toLowerCase()).name;
    const r = await pruneConfigured(ctx, { host });
    const cfg = ctx.config.audit;
    const scope = host ? ` of ${host}` : "";
    const quota = cfg.maxRows === null ? "" : ` and ${r.overQuota} over the max_rows quota of ${cfg.maxRows}`;
    process.stdout.write(`Pruned ${r.expired} expired event${r.expired === 1 ? "" : "s"}${scope} (older than ${formatDuration(cfg.expiresAfter)})${quota}.\n`);
  });
}
