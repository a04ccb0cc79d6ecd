import { iso } from "../invites/view.ts";
import { parseLabels } from "../invites/service.ts";
import type { Account } from "./service.ts";
import { memberOfCreator, type AccountProfile, type TreeNode } from "./tree.ts";

/** One account as the CLI's --json and the JSON API show it in the invite tree. Times are ISO 8601. */
export function accountJson(a: Account) {
  const inviter = memberOfCreator(a.invitedBy);
  return {
    username: a.username,
    /** The inviting member's username; null when the CLI or a key made the invite (or there was none). */
    invited_by: inviter && inviter.host === a.host ? inviter.username : null,
    /** The raw creator of its invite: `cli`, `api/token/ID`, `account/<user>@<host>`, or null. */
    invite_creator: a.invitedBy,
    created_at: iso(a.createdAt),
    disabled: a.disabledAt !== null,
  };
}

/** `user show --json` and GET /api/v1/accounts/{user}: the account, its inviter and the accounts it invited. */
export function accountDetailJson(p: AccountProfile) {
  const a = p.account;
  return {
    ...accountJson(a),
    host: a.host,
    roles: parseLabels(a.roles),
    groups: parseLabels(a.groups),
    invite_id: a.inviteId,
    disabled_at: a.disabledAt === null ? null : iso(a.disabledAt),
    invitees: p.invitees.map((i) => ({ username: i.username, created_at: iso(i.createdAt) })),
  };
}

/** The tree below a node, depth first, as a flat list with each account's depth (0: the node itself). */
export function flatTree(nodes: TreeNode[], depth = 0, out: (ReturnType<typeof accountJson> & { depth: number })[] = []) {
  for (const n of nodes) {
    out.push({ ...accountJson(n.account), depth });
    flatTree(n.children, depth + 1, out);
  }
  return out;
}
