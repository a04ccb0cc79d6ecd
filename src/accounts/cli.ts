import { defineCommand } from "citty";
import { CliError, configArg, formatTable, isoTime, jsonArg, printJson, requireHost, withContext, withReadOnlyContext, strictCommand } from "../cli/common.ts";
import { CLI_ORIGIN } from "../context.ts";
import { parseLabels } from "../invites/service.ts";
import { listAccounts, showUsername } from "./service.ts";
import { deleteAccountEverywhere, DownstreamError } from "../provisioning/lifecycle.ts";
import { AccountStatusError, accountProfile, inviteTree, type TreeNode } from "./tree.ts";
import { accountJson, accountDetailJson } from "./view.ts";
import { disableAccount, enableAccount } from "./disable.ts";
import { RoleError, setAccountRole } from "./roles.ts";
import { TotpError, enrolTotp, removeTotp } from "./totp.ts";
import { renderUnicodeCompact } from "uqr";

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

const showArgs = { host: { type: "positional", required: true }, user: { type: "positional", required: true }, ...jsonArg, ...configArg } as const;

const show = strictCommand({
  meta: { name: "show", description: "Show an account, who invited it and the accounts it invited" },
  args: showArgs,
  run: ({ args }) => {
    return withReadOnlyContext(args, (ctx) => {
      const host = requireHost(ctx, args.host);
      const profile = accountProfile(ctx, host.name, args.user);
      if (!profile) throw new CliError(`no account '${args.user}' on ${host.name}`);
      const a = profile.account;
      if (args.json) return printJson(accountDetailJson(profile));
      process.stdout.write(
        formatTable(
          ["FIELD", "VALUE"],
          [
            ["address", `${a.username}@${a.host}`],
            ["created", isoTime(a.createdAt)],
            ["invited by", profile.invitedBy ?? "-"],
            ["invite creator", a.invitedBy ?? "-"],
            ["status", a.disabledAt === null ? "enabled" : `disabled since ${isoTime(a.disabledAt)}`],
            ["roles", parseLabels(a.roles).join(",") || "-"],
            ["invitees", profile.invitees.map((i) => i.username).join(", ") || "-"],
          ],
        ),
      );
    });
  },
});

const treeArgs = { host: { type: "positional", required: true }, user: { type: "positional", required: false }, ...jsonArg, ...configArg } as const;

function treeJson(n: TreeNode): unknown {
  return { ...accountJson(n.account), invitees: n.children.map(treeJson) };
}

/** Roots at the left with where their invite came from; below each, the accounts it invited. */
function treeLines(nodes: TreeNode[], prefix = "", depth = 0, out: string[] = []): string[] {
  nodes.forEach((n, i) => {
    const last = i === nodes.length - 1;
    const label = `${n.account.username}${n.account.disabledAt !== null ? " [disabled]" : ""}${depth === 0 ? ` (${n.account.invitedBy ?? "no invite"})` : ""}`;
    out.push((depth === 0 ? label : `${prefix}${last ? "└─ " : "├─ "}${label}`).replace(/[\x00-\x1f\x7f]/g, "?"));
    treeLines(n.children, depth === 0 ? "" : prefix + (last ? "   " : "│  "), depth + 1, out);
  });
  return out;
}

const tree = strictCommand({
  meta: { name: "tree", description: "Print who invited whom: the tree below USER, or the whole host (invites made by the CLI or a key are roots)" },
  args: treeArgs,
  run: ({ args }) => {
    return withReadOnlyContext(args, (ctx) => {
      const host = requireHost(ctx, args.host);
      const nodes = inviteTree(ctx, host.name, args.user ?? null);
      if (!nodes) throw new CliError(`no account '${args.user}' on ${host.name}`);
      if (args.json) return printJson(nodes.map(treeJson));
      if (nodes.length === 0) {
        process.stderr.write("no accounts\n");
        return;
      }
      process.stdout.write(treeLines(nodes).join("\n") + "\n");
    });
  },
});

const statusArgs = {
  host: { type: "positional", required: true },
  user: { type: "positional", required: true },
  "local-only": { type: "boolean", description: "Change only invited's record; leave the account on the real server as it is" },
  ...configArg,
} as const;

/** The CLI's words for a refusal of the real server (or of invited's own checks). */
function statusError(e: unknown): never {
  if (e instanceof AccountStatusError) throw new CliError(e.message);
  if (e instanceof DownstreamError) throw new CliError(`${e.message}\ninvited's account is unchanged; run again once the server answers, or use --local-only to change only invited's record`);
  throw e;
}

const disable = strictCommand({
  meta: { name: "disable", description: "Disable an account: no sign-in, no invites, its sessions end and its open invites are revoked" },
  args: statusArgs,
  run: ({ args }) => {
    return withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      try {
        const r = await disableAccount(ctx, CLI_ORIGIN, host.name, args.user, null, { localOnly: args["local-only"] === true });
        process.stderr.write(
          r.changed
            ? `disabled; ${r.sessionsEnded} session(s) ended, ${r.invitesRevoked.length} open invite(s) revoked\n`
            : `already disabled; ${r.sessionsEnded} session(s) ended, ${r.invitesRevoked.length} open invite(s) revoked\n`,
        );
      } catch (e) {
        statusError(e);
      }
    });
  },
});

const enable = strictCommand({
  meta: { name: "enable", description: "Enable a disabled account again (revoked invites stay revoked)" },
  args: statusArgs,
  run: ({ args }) => {
    return withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      try {
        process.stderr.write((await enableAccount(ctx, CLI_ORIGIN, host.name, args.user, { localOnly: args["local-only"] === true })) ? "enabled\n" : "already enabled\n");
      } catch (e) {
        statusError(e);
      }
    });
  },
});

const roleArgs = { host: { type: "positional", required: true }, user: { type: "positional", required: true }, role: { type: "positional", required: true }, ...configArg } as const;

function roleCommand(add: boolean) {
  return strictCommand({
    meta: { name: add ? "add" : "remove", description: add ? "Give an account a role (`admin` administers the host in the console)" : "Take a role from an account" },
    args: roleArgs,
    run: ({ args }) => {
      return withContext(args, async (ctx) => {
        const host = requireHost(ctx, args.host);
        try {
          const changed = await setAccountRole(ctx, CLI_ORIGIN, host.name, args.user, args.role, add);
          process.stderr.write(changed ? (add ? "role added\n" : "role removed\n") : add ? "already has that role\n" : "does not have that role\n");
        } catch (e) {
          if (e instanceof RoleError) throw new CliError(e.message);
          throw e;
        }
      });
    },
  });
}

const role = defineCommand({
  meta: { name: "role", description: "Add or remove an account's role (the only way, besides an admin in the console, to grant admin)" },
  subCommands: { add: roleCommand(true), remove: roleCommand(false) },
});

const totpArgs = {
  host: { type: "positional", required: true },
  user: { type: "positional", required: true },
  replace: { type: "boolean", description: "Enrol a new secret even if one exists (the old one stops working)" },
  remove: { type: "boolean", description: "Remove the account's TOTP instead" },
  ...configArg,
} as const;

const totp = strictCommand({
  meta: { name: "totp", description: "Enrol TOTP (the second factor admins must use): prints the otpauth:// URI and a QR code, once" },
  args: totpArgs,
  run: ({ args }) => {
    return withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      try {
        if (args.remove) {
          process.stderr.write((await removeTotp(ctx, CLI_ORIGIN, host.name, args.user)) ? "TOTP removed\n" : "no TOTP was enrolled\n");
          return;
        }
        const e = await enrolTotp(ctx, CLI_ORIGIN, host.name, args.user, args.replace === true);
        process.stdout.write(`${renderUnicodeCompact(e.uri, { border: 2 })}\n${e.uri}\n`);
        process.stderr.write("Scan the code (or open the URI) in an authenticator app. It is shown only now; sign-in asks for its 6-digit codes.\n");
      } catch (e) {
        if (e instanceof TotpError) throw new CliError(e.message);
        throw e;
      }
    });
  },
});

export const userCommand = defineCommand({
  meta: { name: "user", description: "List, show, disable and delete accounts; roles, TOTP; the invite tree" },
  subCommands: { list, show, tree, disable, enable, delete: del, role, totp },
});
