import { defineCommand } from "citty";
import { CliError, configArg, formatTable, isoTime, jsonArg, printJson, requireHost, strictOptions, withContext, withReadOnlyContext, strictCommand } from "../cli/common.ts";
import { CLI_ORIGIN } from "../context.ts";
import { parseDuration } from "../lib/duration.ts";
import { findAccount, normaliseUsername } from "../accounts/service.ts";
import { revokeInvitesByMember } from "./member-invites.ts";
import { createInvite, getInvite, InviteError, inviteStatus, listInvites, listRedemptions, parseLabels, revokeInvite, type Invite, type InviteStatus } from "./service.ts";

const createArgs = {
  host: { type: "positional", description: "Host the invite is for", required: true },
  username: { type: "string", description: "Only this username can register with the invite", valueHint: "USER" },
  reset: { type: "string", description: "A password-reset invite for this existing account", valueHint: "USER" },
  group: { type: "string", description: "Add accounts created with it to this group (repeatable)", valueHint: "GROUP" },
  role: { type: "string", description: "Give accounts created with it this role (repeatable)", valueHint: "ROLE" },
  uses: { type: "string", description: "How many accounts it can create (default 1)", valueHint: "N" },
  unlimited: { type: "boolean", description: "No limit on uses (until it expires or is revoked)" },
  ttl: { type: "string", description: "Lifetime, e.g. 7d, 12h (default: the host's invite_ttl; reset_ttl for --reset)", valueHint: "DURATION" },
  note: { type: "string", description: "Free-text note kept with the invite", valueHint: "TEXT" },
  ...configArg,
} as const;

const create = defineCommand({
  meta: { name: "create", description: "Create an invite and print its landing-page URL (shown only once)" },
  args: createArgs,
  run: ({ args, rawArgs }) => {
    const opts = strictOptions(rawArgs, createArgs, ["group", "role"]);
    const username = opts.username as string | undefined;
    const reset = opts.reset as string | undefined;
    if (username !== undefined && reset !== undefined) throw new CliError("--username and --reset exclude each other");
    if (username === "" || reset === "") throw new CliError(`--${username === "" ? "username" : "reset"} needs a username`);
    if (opts.uses !== undefined && opts.unlimited) throw new CliError("--uses and --unlimited exclude each other");
    let maxUses: number | null | undefined;
    if (opts.unlimited) maxUses = null;
    else if (opts.uses !== undefined) {
      const text = String(opts.uses);
      if (!/^\d{1,7}$/.test(text) || Number(text) < 1) throw new CliError(`--uses must be a whole number from 1 to 1000000, got ${JSON.stringify(text)}`);
      maxUses = Number(text);
    }
    let ttl: number | undefined;
    if (opts.ttl !== undefined) {
      const parsed = parseDuration(String(opts.ttl));
      if (parsed === null) throw new CliError(`--ttl is not a valid duration: ${JSON.stringify(opts.ttl)} (use e.g. "90s", "12h", "7d")`);
      ttl = parsed;
    }
    return withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      try {
        const created = await createInvite(ctx, CLI_ORIGIN, {
          host,
          kind: reset !== undefined ? "reset" : "account",
          username: reset ?? username ?? null,
          groups: (opts.group as string[] | undefined) ?? [],
          roles: (opts.role as string[] | undefined) ?? [],
          maxUses,
          ttl,
          note: (opts.note as string | undefined) ?? null,
          createdBy: "cli",
        });
        process.stdout.write(created.url + "\n");
      } catch (e) {
        if (e instanceof InviteError) throw new CliError(e.message);
        throw e;
      }
    });
  },
});

function inviteJson(invite: Invite, now: number) {
  return {
    id: invite.id,
    host: invite.host,
    kind: invite.kind,
    username: invite.username,
    groups: parseLabels(invite.groups),
    roles: parseLabels(invite.roles),
    uses: invite.uses,
    max_uses: invite.maxUses,
    created_at: isoTime(invite.createdAt),
    expires_at: isoTime(invite.expiresAt),
    revoked_at: invite.revokedAt === null ? null : isoTime(invite.revokedAt),
    created_by: invite.createdBy,
    note: invite.note,
    status: inviteStatus(invite, now),
  };
}

const usesText = (i: Invite) => `${i.uses}/${i.maxUses === null ? "∞" : i.maxUses}`;

const listArgs = {
  host: { type: "positional", required: true },
  all: { type: "boolean", description: "Include expired, used-up and revoked invites" },
  ...jsonArg,
  ...configArg,
} as const;

const list = strictCommand({
  meta: { name: "list", description: "List a host's invites, newest first (active ones only unless --all)" },
  args: listArgs,
  run: ({ args }) => {
    return withReadOnlyContext(args, (ctx) => {
      const host = requireHost(ctx, args.host);
      const now = Date.now();
      const status: InviteStatus | undefined = args.all ? undefined : "active";
      const rows: Invite[] = [];
      let cursor: string | null = null;
      do {
        const page = listInvites(ctx, host.name, { status, limit: 1000, cursor }, now);
        rows.push(...page.invites);
        cursor = page.next;
      } while (cursor);
      if (args.json) return printJson(rows.map((i) => inviteJson(i, now)));
      if (rows.length === 0) {
        process.stderr.write(args.all ? "no invites\n" : "no active invites (--all shows the others)\n");
        return;
      }
      process.stdout.write(
        formatTable(
          ["ID", "KIND", "USES", "CREATED", "EXPIRES", "SOURCE", "STATUS", "USER"],
          rows.map((i) => [i.id, i.kind, usesText(i), isoTime(i.createdAt), isoTime(i.expiresAt), i.createdBy, inviteStatus(i, now), i.username ?? ""]),
        ),
      );
    });
  },
});

const showArgs = { host: { type: "positional", required: true }, id: { type: "positional", required: true }, ...jsonArg, ...configArg } as const;

const show = strictCommand({
  meta: { name: "show", description: "Show one invite and who used it" },
  args: showArgs,
  run: ({ args }) => {
    return withReadOnlyContext(args, (ctx) => {
      const host = requireHost(ctx, args.host);
      const invite = getInvite(ctx, host.name, args.id);
      if (!invite) throw new CliError("invite not found");
      const now = Date.now();
      const ledger = listRedemptions(ctx, invite.id);
      if (args.json) {
        return printJson({
          ...inviteJson(invite, now),
          redemptions: ledger.map((r) => ({ username: r.username, used_at: isoTime(r.usedAt), source: r.source })),
        });
      }
      const j = inviteJson(invite, now);
      const lines: [string, string][] = [
        ["id", j.id],
        ["host", j.host],
        ["kind", j.kind],
        ["status", j.status],
        ["username", j.username ?? "-"],
        ["uses", usesText(invite)],
        ["groups", j.groups.join(", ") || "-"],
        ["roles", j.roles.join(", ") || "-"],
        ["created", j.created_at],
        ["expires", j.expires_at],
        ["revoked", j.revoked_at ?? "-"],
        ["source", j.created_by],
        ["note", j.note ?? "-"],
      ];
      let out = lines.map(([k, v]) => `${(k + ":").padEnd(10)}${v.replace(/[\x00-\x1f\x7f]/g, " ")}`).join("\n") + "\n";
      out += ledger.length === 0 ? "\nnot used yet\n" : "\n" + formatTable(["USED BY", "WHEN", "VIA"], ledger.map((r) => [`${r.username}@${r.host}`, isoTime(r.usedAt), r.source]));
      process.stdout.write(out);
    });
  },
});

const revokeArgs = {
  host: { type: "positional", required: true },
  id: { type: "positional", required: false, description: "The invite to revoke" },
  by: { type: "string", description: "Instead of one invite: every open invite this member made", valueHint: "USER" },
  ...configArg,
} as const;

const revoke = strictCommand({
  meta: { name: "revoke", description: "Revoke an invite (or with --by USER every open invite a member made); links stop working at once (revoking twice is fine)" },
  args: revokeArgs,
  run: ({ args }) => {
    if (args.by !== undefined && args.id) throw new CliError("give an invite ID or --by USER, not both");
    if (args.by === undefined && !args.id) throw new CliError("give the invite ID to revoke, or --by USER");
    if (args.by !== undefined && (typeof args.by !== "string" || args.by === "")) throw new CliError("--by needs a username");
    return withContext(args, async (ctx) => {
      const host = requireHost(ctx, args.host);
      if (args.by !== undefined) {
        const account = findAccount(ctx, host.name, String(args.by));
        if (!account) throw new CliError(`no account '${normaliseUsername(String(args.by))}' on ${host.name}`);
        const username = account.username;
        const revoked = await revokeInvitesByMember(ctx, CLI_ORIGIN, host.name, username);
        process.stderr.write(`revoked ${revoked.length} open invite${revoked.length === 1 ? "" : "s"} made by ${username}@${host.name}\n`);
        for (const id of revoked) process.stdout.write(`${id}\n`);
        return;
      }
      if (!(await revokeInvite(ctx, CLI_ORIGIN, host.name, args.id!))) throw new CliError("invite not found");
    });
  },
});

export const inviteCommand = defineCommand({
  meta: { name: "invite", description: "Create, list, show and revoke invites" },
  subCommands: { create, list, show, revoke },
});
