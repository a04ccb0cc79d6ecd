import { defineCommand } from "citty";
import { CliError, configArg, isoTime, jsonArg, printJson, requireHost, strictCommand, strictOptions, withContext, withReadOnlyContext } from "../cli/common.ts";
import { CLI_ORIGIN } from "../context.ts";
import { parseDuration, formatDuration } from "../lib/duration.ts";
import {
  type ApiKey,
  type Scope,
  KeyOptionError,
  SCOPES,
  createApiKey,
  deleteApiKey,
  isScope,
  keyScopes,
  listApiKeys,
  rotateApiKey,
  setApiKeyDisabled,
} from "./service.ts";
import { parseRate } from "../limits/rate.ts";

function durationOption(name: string, value: unknown): number | null {
  if (value === undefined || value === null || value === false) return null;
  if (typeof value !== "string" || value === "") throw new CliError(`--${name} needs a duration like 90d, 24h or 30m`);
  const ms = parseDuration(value);
  if (ms === null) throw new CliError(`--${name}: '${value}' is not a duration (use e.g. 90d, 24h, 30m, 2s)`);
  return ms;
}

function keyStatus(k: ApiKey, now: number): "active" | "disabled" | "expired" {
  if (k.disabled) return "disabled";
  if (k.expiresAt !== null && now >= k.expiresAt) return "expired";
  return "active";
}

const createArgs = {
  host: { type: "positional", description: "Host the key mints invites for", required: true },
  name: { type: "positional", description: "A name to recognise the key by", required: false },
  expires: { type: "string", description: "The key stops working after this long, e.g. 90d", valueHint: "DURATION" },
  scope: { type: "string", description: `What the key may do; repeatable (default invite:create). One of: ${SCOPES.join(", ")}`, valueHint: "SCOPE" },
  "max-ttl": { type: "string", description: "Longest lifetime of an invite this key mints, e.g. 30d", valueHint: "DURATION" },
  "max-uses": { type: "string", description: "Most uses of one invite this key mints", valueHint: "N" },
  rate: { type: "string", description: "Requests allowed, e.g. 60/min (N/sec, N/min, N/hour, N/day)", valueHint: "N/UNIT" },
  ...configArg,
} as const;

const create = defineCommand({
  meta: { name: "create", description: "Create an API key and print ID/TOKEN once (it is not stored)" },
  args: createArgs,
  run: ({ args, rawArgs }) => {
    // Options are checked before anything is opened; citty itself keeps only the last of a repeated --scope.
    const scopes = (strictOptions(rawArgs, createArgs, ["scope"]).scope as string[] | undefined) ?? [];
    for (const s of scopes) if (!isScope(s)) throw new CliError(`unknown scope '${s}' (known: ${SCOPES.join(", ")})`);
    const expires = durationOption("expires", args.expires);
    const maxTtl = durationOption("max-ttl", args["max-ttl"]);
    let maxUses: number | null = null;
    if (args["max-uses"] !== undefined) {
      const text = String(args["max-uses"]);
      if (!/^[0-9]{1,7}$/.test(text) || Number(text) < 1 || Number(text) > 1_000_000) throw new CliError("--max-uses must be a whole number from 1 to 1000000");
      maxUses = Number(text);
    }
    let rate: string | null = null;
    if (args.rate !== undefined) {
      rate = String(args.rate);
      if (parseRate(rate) === null) throw new CliError(`--rate must look like 60/min (N/sec, N/min, N/hour or N/day), got '${rate}'`);
    }
    return withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      try {
        const { secret } = await createApiKey(ctx, CLI_ORIGIN, {
          host: host.name,
          name: args.name,
          scopes: scopes.length ? ([...new Set(scopes)] as Scope[]) : undefined,
          expiresAt: expires === null ? null : Date.now() + expires,
          maxTtl,
          maxUses,
          rate,
        });
        process.stdout.write(secret + "\n");
      } catch (e) {
        if (e instanceof KeyOptionError) throw new CliError(e.message);
        throw e;
      }
    });
  },
});

function keyRecord(k: ApiKey, now: number) {
  return {
    id: k.id,
    host: k.host,
    name: k.name,
    status: keyStatus(k, now),
    created_at: isoTime(k.createdAt),
    expires_at: k.expiresAt === null ? null : isoTime(k.expiresAt),
    scopes: keyScopes(k),
    max_ttl: k.maxTtl === null ? null : formatDuration(k.maxTtl),
    max_uses: k.maxUses,
    rate: k.rate,
    disabled: Boolean(k.disabled),
    last_used_at: k.lastUsedAt === null ? null : isoTime(k.lastUsedAt),
    last_used_ip: k.lastUsedIp,
    previous_token_valid_until: k.prevExpiresAt !== null && k.prevExpiresAt > now ? isoTime(k.prevExpiresAt) : null,
  };
}

const list = strictCommand({
  meta: { name: "list", description: "List a host's API keys: ID<TAB>NAME; --long adds status, expiry, scopes, limits and last use" },
  args: {
    host: { type: "positional", required: true },
    long: { type: "boolean", alias: "l", description: "Tab-separated columns with a header: ID NAME STATUS EXPIRES SCOPES MAX_TTL MAX_USES RATE LAST_USED LAST_IP" },
    ...jsonArg,
    ...configArg,
  },
  run: ({ args }) =>
    withReadOnlyContext(args, (ctx) => {
      const host = requireHost(ctx, args.host);
      const keys = listApiKeys(ctx, host.name);
      const now = Date.now();
      if (args.json) {
        printJson(keys.map((k) => keyRecord(k, now)));
        return;
      }
      if (args.long) {
        const rows = [["ID", "NAME", "STATUS", "EXPIRES", "SCOPES", "MAX_TTL", "MAX_USES", "RATE", "LAST_USED", "LAST_IP"]];
        for (const k of keys) {
          const r = keyRecord(k, now);
          rows.push([r.id, r.name ?? "<unknown>", r.status, r.expires_at ?? "never", r.scopes.join(","), r.max_ttl ?? "-", r.max_uses === null ? "-" : String(r.max_uses), r.rate ?? "-", r.last_used_at ?? "never", r.last_used_ip ?? "-"]);
        }
        process.stdout.write(rows.map((r) => r.map((c) => c.replace(/[\t\r\n]/g, " ")).join("\t")).join("\n") + "\n");
        return;
      }
      for (const k of keys) process.stdout.write(`${k.id}\t${k.name ?? "<unknown>"}\n`);
    }),
});

const del = strictCommand({
  meta: { name: "delete", description: "Delete an API key; it stops working at once" },
  args: { host: { type: "positional", required: true }, id: { type: "positional", required: true }, ...configArg },
  run: ({ args }) =>
    withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      if (!(await deleteApiKey(ctx, CLI_ORIGIN, host.name, args.id))) throw new CliError("key not found");
    }),
});

function toggle(disabled: boolean) {
  return strictCommand({
    meta: { name: disabled ? "disable" : "enable", description: disabled ? "Disable an API key (refused like a wrong key until enabled)" : "Enable a disabled API key" },
    args: { host: { type: "positional", required: true }, id: { type: "positional", required: true }, ...configArg },
    run: ({ args }) =>
      withContext(args, async (ctx) => {
        const host = requireHost(ctx, args.host);
        if ((await setApiKeyDisabled(ctx, CLI_ORIGIN, host.name, args.id, disabled)) === null) throw new CliError("key not found");
      }),
  });
}

const rotate = strictCommand({
  meta: { name: "rotate", description: "Give a key a new token (same id) and print ID/TOKEN; the old token works until --grace ends" },
  args: {
    host: { type: "positional", required: true },
    id: { type: "positional", required: true },
    grace: { type: "string", description: "How long the old token keeps working (default 24h; 0: stops at once)", valueHint: "DURATION" },
    ...configArg,
  },
  run: ({ args }) => {
    const grace = args.grace === "0" ? 0 : (durationOption("grace", args.grace ?? "24h") ?? 0);
    return withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      const rotated = await rotateApiKey(ctx, CLI_ORIGIN, host.name, args.id, grace);
      if (!rotated) throw new CliError("key not found");
      process.stdout.write(rotated.secret + "\n");
    });
  },
});

export const keyCommand = defineCommand({
  meta: { name: "key", description: "Manage API keys for /invites_api and /api/v1" },
  subCommands: { create, list, delete: del, disable: toggle(true), enable: toggle(false), rotate },
});
