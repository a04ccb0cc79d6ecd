import { defineCommand } from "citty";
import { CliError, configArg, formatTable, isoTime, jsonArg, printJson, requireHost, withContext, strictCommand } from "../cli/common.ts";
import { CLI_ORIGIN } from "../context.ts";
import { parseLabels } from "../invites/service.ts";
import { listAccounts, showUsername } from "./service.ts";
import { deleteAccountEverywhere } from "../provisioning/lifecycle.ts";

const listArgs = { host: { type: "positional", required: true }, ...jsonArg, ...configArg } as const;

const list = strictCommand({
  meta: { name: "list", description: "List a host's accounts" },
  args: listArgs,
  run: ({ args }) => {
    return withContext(args, (ctx) => {
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

const deleteArgs = {
  host: { type: "positional", required: true },
  user: { type: "positional", required: true },
  "local-only": { type: "boolean", description: "Remove only invited's record; leave the account on the real server" },
  ...configArg,
} as const;

const del = strictCommand({
  meta: { name: "delete", description: "Delete an account on the real server (the host's provider), then invited's record; the invite ledger keeps its rows" },
  args: deleteArgs,
  run: ({ args }) => {
    return withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      const r = await deleteAccountEverywhere(ctx, CLI_ORIGIN, host, args.user, { localOnly: args["local-only"] === true });
      if (!r.ok && r.reason === "not_found") throw new CliError("account not found");
      if (!r.ok) {
        throw new CliError(
          `the ${host.provision.type} provider could not delete the account downstream (${r.failure.reason}): ${r.failure.detail}\n` +
            "invited's account is unchanged; run again once the server answers, or use --local-only to remove only invited's record",
        );
      }
      if (r.downstream === "deleted") process.stderr.write(`deleted on the real server (${host.provision.type} provider) and in invited\n`);
      else if (r.downstream === "skipped") process.stderr.write("deleted in invited only (--local-only); the account on the real server is untouched\n");
    });
  },
});

export const userCommand = defineCommand({
  meta: { name: "user", description: "List and delete accounts" },
  subCommands: { list, delete: del },
});
