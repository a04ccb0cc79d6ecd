import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { checkUsername, findAccount, normaliseUsername, usernameProblemMessage } from "../accounts/service.ts";
import { accountProfile, inviteTree } from "../accounts/tree.ts";
import { accountDetailJson, accountJson, flatTree } from "../accounts/view.ts";
import { disableAccount } from "../accounts/disable.ts";
import { deleteAccountEverywhere, DownstreamError } from "../provisioning/lifecycle.ts";
import { requestOrigin } from "../http/request-info.ts";
import type { HostConfig } from "../config/index.ts";
import { apiAuth } from "./auth.ts";
import { ApiError } from "./errors.ts";
import { parseJsonBody, requireJsonObject } from "./body.ts";
import { AccountDetail, AccountUserParams, DeleteAccountQuery, DeletedAccount, DisableAccountBody, DisabledAccount, errors } from "./schemas.ts";

const NOTE = "\n\nRequires scope `account:manage`.";

/**
 * The stored name of the path's account. An unknown name that could not be registered is a 422, not a 404; an
 * existing account is found even when today's rules would refuse its name (reserved, older rules).
 */
function username(ctx: AppContext, raw: string, host: HostConfig): string {
  const found = findAccount(ctx, host.name, raw);
  if (found) return found.username;
  const name = normaliseUsername(raw);
  const problem = checkUsername(name, host);
  if (problem && problem !== "reserved") throw new ApiError("invalid_username", usernameProblemMessage(problem, host));
  throw new ApiError("account_not_found", "no such account on this host");
}

/** A refusal of the real server, as the API's answer: invited changed nothing. */
function downstreamRefusal(e: unknown): never {
  if (e instanceof DownstreamError) throw new ApiError("provision_failed", `${e.message}; the account is unchanged`);
  throw e;
}

/** /api/v1/accounts: an account of the key's host with its place in the invite tree, disabling and deleting it. */
export function accountsController(ctx: AppContext) {
  return new Elysia({ name: "api-v1-accounts", normalize: false })
    .use(apiAuth(ctx))
    .get(
      "/api/v1/accounts/:user",
      ({ params, apiHost }) => {
        const profile = accountProfile(ctx, apiHost.name, username(ctx, params.user, apiHost));
        if (!profile) throw new ApiError("account_not_found", "no such account on this host");
        const below = inviteTree(ctx, apiHost.name, profile.account.username) ?? [];
        return { ...accountDetailJson(profile), tree: flatTree(below).filter((n) => n.depth > 0) };
      },
      {
        scope: "account:manage",
        params: AccountUserParams,
        response: { 200: AccountDetail, ...errors(400, 401, 403, 404, 422, 429, 503) },
        detail: {
          summary: "Show an account and its invite tree",
          description: "The account, the member who invited it (null when the CLI or a key made its invite), and everyone below it in the invite tree." + NOTE,
          tags: ["accounts"],
        },
      },
    )
    .post(
      "/api/v1/accounts/:user/disable",
      async ({ params, apiHost, apiKey, request, body }) => {
        const name = username(ctx, params.user, apiHost);
        if (body.reason !== undefined && /[\x00-\x1f\x7f]/.test(body.reason)) throw new ApiError("invalid_request", "reason must not contain control characters");
        const outcome = await disableAccount(ctx, requestOrigin(request, "api", apiKey.id), apiHost.name, name, body.reason ?? null, { localOnly: body.local_only === true }).catch(downstreamRefusal);
        const account = findAccount(ctx, apiHost.name, name);
        if (!account) throw new ApiError("account_not_found", "no such account on this host");
        return { ...accountJson(account), changed: outcome.changed, sessions_ended: outcome.sessionsEnded, invites_revoked: outcome.invitesRevoked };
      },
      {
        scope: "account:manage",
        parse: [parseJsonBody, "json"],
        transform: requireJsonObject,
        body: DisableAccountBody,
        params: AccountUserParams,
        response: { 200: DisabledAccount, ...errors(400, 401, 403, 404, 415, 422, 429, 502, 503) },
        detail: {
          summary: "Disable an account",
          description:
            "It can no longer sign in or invite, its sessions end, and its open invites are revoked. Audited as account.disabled, with the optional reason. Send {} for no reason. Idempotent: disabling a disabled account answers 200 with changed = false. " +
            "The host's provider disables the account on the real server first; if it refuses, is down or cannot (`not_supported`), nothing changes and the answer is 502 provision_failed with its reason. `local_only: true` disables only invited's record." +
            NOTE,
          tags: ["accounts"],
        },
      },
    )
    .delete(
      "/api/v1/accounts/:user",
      async ({ params, query, apiKey, apiHost, request }) => {
        // A destructive call reads its one option exactly: which of two values won would be a guess.
        if (new URL(request.url).searchParams.getAll("local_only").length > 1) throw new ApiError("invalid_request", "local_only is given twice");
        const name = username(ctx, params.user, apiHost);
        const r = await deleteAccountEverywhere(ctx, requestOrigin(request, "api", apiKey.id), apiHost, name, { localOnly: query.local_only === "true" });
        if (!r.ok && r.reason === "not_found") throw new ApiError("account_not_found", "no such account on this host");
        if (!r.ok) throw new ApiError("provision_failed", `the ${apiHost.provision.type} provider could not delete the account downstream (${r.failure.reason}): ${r.failure.detail}; the account is unchanged`);
        return { username: r.username, host: apiHost.name, downstream: r.downstream };
      },
      {
        scope: "account:manage",
        params: AccountUserParams,
        query: DeleteAccountQuery,
        response: { 200: DeletedAccount, ...errors(400, 401, 403, 404, 422, 429, 502, 503) },
        detail: {
          summary: "Delete an account",
          description:
            "Deletes the account on the host's real server first (its provider: prosodyctl deluser, ejabberd's unregister, the LDAP entry, a webhook's provision.delete, ...), then invited's record; the invite ledger keeps its rows. " +
            "If the real server refuses or does not answer, nothing changes: 502 provision_failed says why, and the audit log has provision.failed. " +
            "`?local_only=true` removes only invited's record, on purpose." +
            NOTE,
          tags: ["accounts"],
        },
      },
    );
}
