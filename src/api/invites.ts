import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import type { ApiKey } from "../keys/service.ts";
import {
  InviteError,
  createInvite,
  getInvite,
  listInvites,
  listRedemptions,
  redeemInviteForDownstream,
  resolveInviteOptions,
  revokeInvite,
  type CreateInviteInput,
} from "../invites/service.ts";
import { createdInviteView, inviteView, redemptionView } from "../invites/view.ts";
import { requestOrigin } from "../http/request-info.ts";
import { parseDuration } from "../lib/duration.ts";
import { apiAuth, requireScope } from "./auth.ts";
import { parseJsonBody, requireJsonObject } from "./body.ts";
import { ApiError, type ErrorCode } from "./errors.ts";
import { CreateInviteBody, CreatedInvite, Invite, InviteDetail, InviteIdParams, InvitePage, ListInvitesQuery, RedeemBody, Redeemed, errors } from "./schemas.ts";

// Our parser reads every body (see body.ts) and always answers, so "json" never runs: it is there so the OpenAPI
// document lists application/json, the one type accepted, as the request body's media type.
const jsonBody = (): (typeof parseJsonBody | "json")[] => [parseJsonBody, "json"];

const SCOPE_NOTE = (scope: string) => `\n\nRequires scope \`${scope}\`.`;

/** /api/v1/invites: create, list, show, revoke and redeem invites of the key's host. */
export function invitesController(ctx: AppContext) {
  return new Elysia({ name: "api-v1-invites", normalize: false })
    .use(apiAuth(ctx))
    .post(
      "/api/v1/invites",
      async ({ body, apiKey, apiHost, request, set }) => {
        const input = inviteInput(body, apiKey, apiHost);
        const created = await createInvite(ctx, requestOrigin(request, "api", apiKey.id), input).catch(rethrowInviteError);
        set.status = 201;
        set.headers.location = `/api/v1/invites/${created.invite.id}`;
        return createdInviteView(created);
      },
      {
        scope: "invite:create",
        parse: jsonBody(),
        transform: requireJsonObject,
        body: CreateInviteBody,
        response: { 201: CreatedInvite, ...errors(400, 401, 403, 409, 415, 422, 429, 503) },
        detail: {
          summary: "Create an invite",
          description:
            "Mints an invite for the key's host and answers with its one-time token and links. Location is the new invite's API URL." +
            " kind=reset also needs `invite:create:reset`; non-empty groups or roles need `invite:create:group`." +
            " The key's max_ttl and max_uses ceilings apply (403 ttl_above_key_limit / max_uses_above_key_limit)." +
            " A bound account invite (username) reserves its name: 409 username_taken when an account has it (or a look-alike; use kind=reset instead) or another open invite is bound to it." +
            SCOPE_NOTE("invite:create"),
          tags: ["invites"],
        },
      },
    )
    .get(
      "/api/v1/invites",
      ({ query, apiHost }) => {
        try {
          const page = listInvites(ctx, apiHost.name, { status: query.status, kind: query.kind, limit: query.limit, cursor: query.cursor });
          const now = Date.now();
          return { invites: page.invites.map((i) => inviteView(i, now)), next: page.next };
        } catch (e) {
          return rethrowInviteError(e);
        }
      },
      {
        scope: "invite:list",
        query: ListInvitesQuery,
        response: { 200: InvitePage, ...errors(400, 401, 403, 429, 503) },
        detail: {
          summary: "List invites",
          description:
            "Newest first, keyset-paginated: follow `next` with ?cursor= until it is null. Invites created while you page never shift or repeat entries." +
            SCOPE_NOTE("invite:list"),
          tags: ["invites"],
        },
      },
    )
    .post(
      "/api/v1/invites/redeem",
      async ({ body, apiKey, apiHost, request }) => {
        const result = await redeemInviteForDownstream(ctx, requestOrigin(request, "api", apiKey.id), apiHost, body.token, body.username);
        if (!result.ok) throw result.reason === "invalid_username" ? new ApiError("invalid_username", result.message) : REDEEM_ERRORS[result.reason]();
        return { invite: inviteView(result.invite), username: result.username };
      },
      {
        scope: "invite:redeem",
        parse: jsonBody(),
        transform: requireJsonObject,
        body: RedeemBody,
        response: { 200: Redeemed, ...errors(400, 401, 403, 404, 409, 410, 415, 422, 429, 503) },
        detail: {
          summary: "Redeem an invite token for a downstream server",
          description:
            "Claims one use of the invite atomically and records it in the ledger, so an XMPP or Matrix server can accept the invite tokens its own clients bring." +
            " Of concurrent calls on a single-use invite exactly one succeeds; the others get 409 invite_used." +
            SCOPE_NOTE("invite:redeem"),
          tags: ["invites"],
        },
      },
    )
    .get(
      "/api/v1/invites/:id",
      ({ params, apiHost }) => {
        const invite = getInvite(ctx, apiHost.name, params.id);
        if (!invite) throw new ApiError("invite_not_found", "no such invite");
        return { ...inviteView(invite), redemptions: listRedemptions(ctx, invite.id).map(redemptionView) };
      },
      {
        scope: "invite:list",
        params: InviteIdParams,
        response: { 200: InviteDetail, ...errors(400, 401, 403, 404, 429, 503) },
        detail: { summary: "Show an invite with its redemption ledger", description: SCOPE_NOTE("invite:list").trim(), tags: ["invites"] },
      },
    )
    .delete(
      "/api/v1/invites/:id",
      async ({ params, apiKey, apiHost, request }) => {
        const invite = await revokeInvite(ctx, requestOrigin(request, "api", apiKey.id), apiHost.name, params.id);
        if (!invite) throw new ApiError("invite_not_found", "no such invite");
        return inviteView(invite);
      },
      {
        scope: "invite:revoke",
        params: InviteIdParams,
        response: { 200: Invite, ...errors(400, 401, 403, 404, 429, 503) },
        detail: {
          summary: "Revoke an invite",
          description: "Idempotent: revoking a revoked invite answers 200 with the same record and changes nothing." + SCOPE_NOTE("invite:revoke"),
          tags: ["invites"],
        },
      },
    );
}

const REDEEM_ERRORS: Record<"unknown" | "expired" | "used" | "revoked" | "username_mismatch" | "username_taken", () => ApiError> = {
  unknown: () => new ApiError("invite_not_found", "no such invite on this host"),
  expired: () => new ApiError("invite_expired", "the invite has expired"),
  used: () => new ApiError("invite_used", "the invite has no uses left"),
  revoked: () => new ApiError("invite_revoked", "the invite was revoked"),
  username_mismatch: () => new ApiError("username_mismatch", "the invite is bound to another username"),
  username_taken: () => new ApiError("username_taken", "the username, or one that looks like it, is in use or reserved by another invite"),
};

type CreateBody = (typeof CreateInviteBody)["static"];

/** Body → service input, after the checks that belong to the key: scopes for kind and groups, and its ceilings. */
function inviteInput(body: CreateBody, key: ApiKey, host: HostConfig): CreateInviteInput {
  const kind = body.kind ?? "account";
  if (kind === "reset") requireScope(key, "invite:create:reset");
  if ((body.groups?.length ?? 0) > 0 || (body.roles?.length ?? 0) > 0) requireScope(key, "invite:create:group");

  // The username rules (and, for reset invites, the lookup of an older account) are createInvite's.
  const username = body.username ?? null;

  let ttl: number | undefined;
  if (body.ttl !== undefined) {
    // A zero lifetime ("0s", 0) is a well-formed duration that is too short (invalid_ttl), not a malformed one.
    const ms = typeof body.ttl === "number" ? body.ttl * 1000 : parseDuration(body.ttl, { allowZero: true });
    if (ms === null) throw new ApiError("invalid_request", 'ttl must be a duration like "7d", "24h", "90m", or whole seconds');
    if (ms < 1000) throw new ApiError("invalid_ttl", "ttl must be at least 1s");
    if (key.maxTtl !== null && ms > key.maxTtl) throw new ApiError("ttl_above_key_limit", "ttl is longer than this key's max_ttl");
    ttl = ms;
  } else if (key.maxTtl !== null) {
    const hostDefault = kind === "reset" ? host.resetTtl : host.inviteTtl;
    if (hostDefault > key.maxTtl) ttl = key.maxTtl;
  }

  const maxUses = body.max_uses; // undefined: 1; null: unlimited
  if (key.maxUses !== null && (maxUses === null || (maxUses !== undefined && maxUses > key.maxUses)))
    throw new ApiError("max_uses_above_key_limit", `max_uses must be at most ${key.maxUses} with this key`);

  const input: CreateInviteInput = {
    host,
    kind,
    username,
    groups: body.groups ?? [],
    roles: body.roles ?? [],
    maxUses,
    ttl,
    note: body.note ?? null,
    createdBy: `api/token/${key.id}`,
  };
  try {
    resolveInviteOptions(input); // host limits, before anything is queued
  } catch (e) {
    rethrowInviteError(e);
  }
  return input;
}

const INVITE_ERRORS: Record<InviteError["code"], ErrorCode> = {
  ttl_too_long: "ttl_too_long",
  invalid_uses: "invalid_uses",
  invalid_username: "invalid_username",
  username_taken: "username_taken",
  account_missing: "account_missing",
  invalid_label: "invalid_label",
  invalid_note: "invalid_note",
  not_found: "invite_not_found",
  invalid_cursor: "invalid_cursor",
};

function rethrowInviteError(e: unknown): never {
  if (e instanceof InviteError) throw new ApiError(INVITE_ERRORS[e.code], e.message);
  throw e;
}
