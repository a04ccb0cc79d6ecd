import { defineCommand } from "citty";
import { CliError, configArg, isoTime, jsonArg, printJson, requireHost, withContext } from "../cli/common.ts";
import { CLI_ORIGIN } from "../context.ts";
import { createApiKey, deleteApiKey, keyScopes, listApiKeys } from "./service.ts";

const create = defineCommand({
  meta: { name: "create", description: "Create an API key and print ID/TOKEN once (it is not stored)" },
  args: {
    host: { type: "positional", description: "Host the key mints invites for", required: true },
    name: { type: "positional", description: "A name to recognise the key by", required: false },
    ...configArg,
  },
  run: ({ args }) =>
    withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      const { secret } = await createApiKey(ctx, CLI_ORIGIN, { host: host.name, name: args.name });
      process.stdout.write(secret + "\n");
    }),
});

const list = defineCommand({
  meta: { name: "list", description: "List a host's API keys (ID<TAB>NAME)" },
  args: { host: { type: "positional", required: true }, ...jsonArg, ...configArg },
  run: ({ args }) =>
    withContext(args, (ctx) => {
      const host = requireHost(ctx, args.host);
      const keys = listApiKeys(ctx, host.name);
      if (args.json) {
        printJson(
          keys.map((k) => ({
            id: k.id,
            host: k.host,
            name: k.name,
            created_at: isoTime(k.createdAt),
            last_used_at: k.lastUsedAt === null ? null : isoTime(k.lastUsedAt),
            last_used_ip: k.lastUsedIp,
            expires_at: k.expiresAt === null ? null : isoTime(k.expiresAt),
            scopes: keyScopes(k),
            disabled: Boolean(k.disabled),
          })),
        );
        return;
      }
      for (const k of keys) process.stdout.write(`${k.id}\t${k.name ?? "<unknown>"}\n`);
    }),
});

const del = defineCommand({
  meta: { name: "delete", description: "Delete an API key; it stops working at once" },
  args: { host: { type: "positional", required: true }, id: { type: "positional", required: true }, ...configArg },
  run: ({ args }) =>
    withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      if (!(await deleteApiKey(ctx, CLI_ORIGIN, host.name, args.id))) throw new CliError("key not found");
    }),
});

export const keyCommand = defineCommand({
  meta: { name: "key", description: "Manage API keys for /invites_api" },
  subCommands: { create, list, delete: del },
});
