import { defineCommand } from "citty";
import { CliError, configArg, formatTable, isoTime, jsonArg, printJson, requireHost, withContext, withReadOnlyContext, strictCommand } from "../cli/common.ts";
import { CLI_ORIGIN } from "../context.ts";
import { parseLabels } from "../invites/service.ts";
import { deleteAccount, listAccounts, showUsername } from "./service.ts";

const listArgs = { host: { type: "positional", required: true }, ...jsonArg, ...configArg } as const;

const list = strictCommand({
  meta: { name: "list", description: "List a host's accounts" },
  args: listArgs,
  run: ({ args }) => {
    return withReadOnlyContext(args, (ctx) => {
      const host = requireHost(ctx, args.host);
      const accounts = listAccounts(ctx, host.name);
      if (args.json) {
        return printJson(
          accounts.map((a) => ({
            username: a.username,
            host: a.host,
            address: `${a.username}@${a.host}`,
            roles: parseLabels(a.roles),
            groups: parseLabels(a.groups),
            created_at: isoTime(a.createdAt),
            invite_id: a.inviteId,
            invited_by: a.invitedBy,
          })),
        );
      }
      if (accounts.length === 0) {
        process.stderr.write("no accounts\n");
        return;
      }
      process.stdout.write(
        formatTable(
          ["USERNAME", "CREATED", "ROLES", "GROUPS", "INVITE", "INVITED BY"],
          accounts.map((a) => [showUsername(a.username), isoTime(a.createdAt), parseLabels(a.roles).join(",") || "-", parseLabels(a.groups).join(",") || "-", a.inviteId ?? "-", a.invitedBy ?? "-"]),
        ),
      );
    });
  },
});

const deleteArgs = { host: { type: "positional", required: true }, user: { type: "positional", required: true }, ...configArg } as const;

const del = strictCommand({
  meta: { name: "delete", description: "Delete an account (the invite ledger keeps its redemption rows)" },
  args: deleteArgs,
  run: ({ args }) => {
    return withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      if (!(await deleteAccount(ctx, CLI_ORIGIN, host.name, args.user))) throw new CliError("account not found");
    });
  },
});

export const userCommand = defineCommand({
  meta: { name: "user", description: "List and delete accounts" },
  subCommands: { list, delete: del },
});
