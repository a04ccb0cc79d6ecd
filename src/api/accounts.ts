import { Elysia, t } from "elysia";
import type { AppContext } from "../context.ts";
import { requestOrigin } from "../http/request-info.ts";
import { deleteAccountEverywhere } from "../provisioning/lifecycle.ts";
import { apiAuth } from "./auth.ts";
import { ApiError } from "./errors.ts";
import { errors } from "./schemas.ts";

const AccountParams = t.Object({ user: t.String({ minLength: 1, maxLength: 1023, examples: ["alice"], error: "the username has 1 to 1023 characters" }) });

const DeleteQuery = t.Object({
  local_only: t.Optional(t.Union([t.Literal("true"), t.Literal("false")], { description: "true: remove only invited's record and leave the account on the real server", error: "local_only is true or false" })),
});

const DeletedAccount = t.Object(
  {
    username: t.String(),
    host: t.String(),
    downstream: t.Union([t.Literal("deleted"), t.Literal("none"), t.Literal("skipped")], {
      description: "deleted: the host's provider deleted the account on the real server first; none: the host has no provider; skipped: local_only",
    }),
  },
  { examples: [{ username: "alice", host: "example.com", downstream: "deleted" }] },
);

/** DELETE /api/v1/accounts/{user}: the account on the real server first, then invited's record. */
export function accountsController(ctx: AppContext) {
  return new Elysia({ name: "api-v1-accounts", normalize: false }).use(apiAuth(ctx)).delete(
    "/api/v1/accounts/:user",
    async ({ params, query, apiKey, apiHost, request }) => {
      // A destructive call reads its one option exactly: which of two values won would be a guess.
      if (new URL(request.url).searchParams.getAll("local_only").length > 1) throw new ApiError("invalid_request", "local_only is given twice");
      const r = await deleteAccountEverywhere(ctx, requestOrigin(request, "api", apiKey.id), apiHost, params.user, { localOnly: query.local_only === "true" });
      if (!r.ok && r.reason === "not_found") throw new ApiError("account_not_found", "no such account on this host");
      if (!r.ok) {
        throw new ApiError("provision_failed", `the ${apiHost.provision.type} provider could not delete the account downstream (${r.failure.reason}): ${r.failure.detail}; the account is unchanged`);
      }
      return { username: r.username, host: apiHost.name, downstream: r.downstream };
    },
    {
      scope: "account:delete",
      params: AccountParams,
      query: DeleteQuery,
      response: { 200: DeletedAccount, ...errors(400, 401, 403, 404, 429, 502, 503) },
      detail: {
        summary: "Delete an account",
        description:
          "Deletes the account on the host's real server first (its provider: prosodyctl deluser, ejabberd's unregister, the LDAP entry, a webhook's provision.delete, …), then invited's record; the invite ledger keeps its rows. " +
          "If the real server refuses or does not answer, nothing changes: 502 provision_failed says why, and the audit log has provision.failed. " +
          "`?local_only=true` removes only invited's record, on purpose.\n\nRequires scope `account:delete`.",
        tags: ["accounts"],
      },
    },
  );
}
