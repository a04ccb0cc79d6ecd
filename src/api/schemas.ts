import { t } from "elysia";
import { ERROR_CODES } from "./errors.ts";

// Request and response schemas of /api/v1. Elysia validates requests (and responses) against them, and the OpenAPI
// document at /api/v1/openapi.json is generated from them, so the two cannot drift apart.

const Kind = t.Union([t.Literal("account"), t.Literal("reset")], { description: "account: sign-up invite; reset: password reset for an existing account" });
const Status = t.Union([t.Literal("active"), t.Literal("expired"), t.Literal("used"), t.Literal("revoked")]);
const Time = t.String({ format: "date-time", description: "ISO 8601, UTC", examples: ["2026-07-01T12:00:00.000Z"] });
const Name = t.String({ minLength: 1, maxLength: 64 });

export const ErrorBody = t.Object(
  {
    error: t.Object({
      code: t.Union(
        Object.keys(ERROR_CODES).map((c) => t.Literal(c)),
        { description: "Stable machine-readable code (see the API description)" },
      ),
      message: t.String({ description: "Human-readable explanation; may change" }),
    }),
  },
  { examples: [{ error: { code: "insufficient_scope", message: "this call needs the scope invite:list" } }] },
);

const inviteFields = {
  id: t.String({ examples: ["Q2t3bV9xRk1w"] }),
  host: t.String({ examples: ["example.com"] }),
  kind: Kind,
  status: Status,
  username: t.Nullable(t.String(), { description: "Bound username (account) or target account (reset)" }),
  groups: t.Array(t.String()),
  roles: t.Array(t.String()),
  note: t.Nullable(t.String()),
  created_at: Time,
  expires_at: Time,
  max_uses: t.Nullable(t.Integer(), { description: "null: unlimited" }),
  uses: t.Integer(),
  created_by: t.String({ description: "api/token/<KEY ID>, cli or account/<user>@<host>", examples: ["api/token/HTwALnKL73UU"] }),
  revoked_at: t.Nullable(Time),
};

const inviteExample = {
  id: "Q2t3bV9xRk1w",
  host: "example.com",
  kind: "account",
  status: "active",
  username: null,
  groups: [],
  roles: [],
  note: "for Alice",
  created_at: "2026-07-01T12:00:00.000Z",
  expires_at: "2026-07-08T12:00:00.000Z",
  max_uses: 1,
  uses: 0,
  created_by: "api/token/HTwALnKL73UU",
  revoked_at: null,
};

export const Invite = t.Object(inviteFields, { examples: [inviteExample] });

export const CreatedInvite = t.Object(
  {
    ...inviteFields,
    token: t.String({ description: "The invite token. Shown only in this answer: only its hash is stored." }),
    url: t.String({ description: "Landing page: public_url + invite_path + ? + token" }),
    xmpp_uri: t.Nullable(t.String(), {
      description:
        "xmpp:HOST?register;preauth=TOKEN (xmpp:USER@HOST?... for a bound or reset invite), for XMPP apps; null while the host does not offer in-band registration (app_registration, or no recent report from Prosody's mod_invited)",
    }),
  },
  {
    examples: [
      {
        ...inviteExample,
        token: "c-vhJjyB5Pb4HpAfQ2t3bV",
        url: "https://example.com/invite?c-vhJjyB5Pb4HpAfQ2t3bV",
        xmpp_uri: "xmpp:example.com?register;preauth=c-vhJjyB5Pb4HpAfQ2t3bV",
      },
    ],
  },
);

const Redemption = t.Object({
  username: t.String(),
  used_at: Time,
  source: t.String({ description: "web (registration page), api (POST /api/v1/invites/redeem) or xmpp (in-band registration through the XMPP server)" }),
});

export const InviteDetail = t.Object(
  { ...inviteFields, redemptions: t.Array(Redemption, { description: "The ledger: one entry per use, oldest first" }) },
  { examples: [{ ...inviteExample, status: "used", uses: 1, redemptions: [{ username: "alice", used_at: "2026-07-02T08:30:00.000Z", source: "api" }] }] },
);

export const InvitePage = t.Object(
  {
    invites: t.Array(t.Object(inviteFields)),
    next: t.Nullable(t.String({ description: "Pass as ?cursor= for the next page; null on the last page" })),
  },
  { examples: [{ invites: [inviteExample], next: "MTc4MjkwNzIwMDAwMDpRMnQzYlY5eFJrMXc" }] },
);

export const CreateInviteBody = t.Object(
  {
    kind: t.Optional(t.Union([t.Literal("account"), t.Literal("reset")], { description: Kind.description, error: 'kind must be "account" or "reset"' })),
    username: t.Optional(
      t.Nullable(t.String({ minLength: 1, maxLength: 1023 }), { description: "Bind the invite to this username; required for kind=reset", error: "username must be a string of 1 to 1023 characters, or null" }),
    ),
    groups: t.Optional(t.Array(Name, { maxItems: 32, description: "Needs scope invite:create:group when not empty", error: "groups must be a list of at most 32 names of 1 to 64 characters" })),
    roles: t.Optional(t.Array(Name, { maxItems: 32, description: "Needs scope invite:create:group when not empty", error: "roles must be a list of at most 32 names of 1 to 64 characters" })),
    max_uses: t.Optional(
      t.Nullable(t.Integer({ minimum: 1, maximum: 1_000_000 }), { description: "Default 1; null: unlimited", error: "max_uses must be a whole number from 1 to 1000000, or null for unlimited" }),
    ),
    ttl: t.Optional(
      t.Union([t.String({ pattern: "^[0-9a-z]{1,32}$", examples: ["7d"] }), t.Integer({ minimum: 0, maximum: 315_360_000 })], {
        error: 'ttl must be a duration like "7d", "24h", "90m", or whole seconds',
        description: 'Lifetime: a duration like "90m", "24h", "7d", or whole seconds. Default: the host\'s invite_ttl (reset_ttl for resets), cut to the key\'s max_ttl.',
      }),
    ),
    note: t.Optional(t.Nullable(t.String({ maxLength: 1000 }), { error: "note must be a string of at most 1000 characters, or null" })),
  },
  { additionalProperties: false, examples: [{ kind: "account", max_uses: 1, ttl: "7d", note: "for Alice" }] },
);

export const ListInvitesQuery = t.Object(
  {
    status: t.Optional(t.Union([t.Literal("active"), t.Literal("expired"), t.Literal("used"), t.Literal("revoked")], { error: "status must be active, expired, used or revoked" })),
    kind: t.Optional(t.Union([t.Literal("account"), t.Literal("reset")], { error: "kind must be account or reset" })),
    limit: t.Optional(t.Integer({ minimum: 1, maximum: 1000, description: "Page size (default 50)", error: "limit must be a whole number from 1 to 1000" })),
    cursor: t.Optional(t.String({ maxLength: 200, description: "`next` from the previous page", error: "cursor must be the `next` value of a previous page" })),
  },
  { additionalProperties: false },
);

export const InviteIdParams = t.Object({ id: t.String({ pattern: "^[A-Za-z0-9_-]{1,64}$", examples: ["Q2t3bV9xRk1w"], error: "the invite id has 1 to 64 characters A-Z a-z 0-9 _ -" }) });

export const RedeemBody = t.Object(
  {
    token: t.String({ minLength: 1, maxLength: 256, description: "The invite token the downstream server's client brought", error: "token must be a string of 1 to 256 characters" }),
    username: t.String({ minLength: 1, maxLength: 1023, description: "The account being created (or reset)", error: "username must be a string of 1 to 1023 characters" }),
  },
  { additionalProperties: false, examples: [{ token: "c-vhJjyB5Pb4HpAfQ2t3bV", username: "alice" }] },
);

export const Redeemed = t.Object(
  {
    invite: t.Object(inviteFields),
    username: t.String({ description: "The username the use was recorded for (normalised)" }),
  },
  { examples: [{ invite: { ...inviteExample, status: "used", uses: 1 }, username: "alice" }] },
);

export const AuditQuery = t.Object(
  {
    user: t.Optional(t.String({ minLength: 1, maxLength: 1023, description: "Only this account's events", error: "user must be 1 to 1023 characters" })),
    type: t.Optional(
      t.String({ pattern: "^[a-z_]+(\\.[a-z_]+)*(\\.\\*)?$", maxLength: 64, description: 'An event type like "invite.created", or a family like "key.*"', error: 'type must be an event type like invite.created, or a family like key.*' }),
    ),
    since: t.Optional(t.String({ format: "date-time", description: "Only events at or after this time", error: "since must be an ISO 8601 time like 2026-07-01T00:00:00Z" })),
    before: t.Optional(t.Integer({ minimum: 1, description: "`next` from the previous page: only events older than this event id", error: "before must be the `next` value of a previous page" })),
    global: t.Optional(t.Boolean({ description: "true: only host-wide events (no user); false: only events about an account", error: "global must be true or false" })),
    limit: t.Optional(t.Integer({ minimum: 1, maximum: 1000, description: "Page size (default 50)", error: "limit must be a whole number from 1 to 1000" })),
  },
  { additionalProperties: false },
);

const AuditEvent = t.Object({
  id: t.Integer(),
  at: Time,
  host: t.String({ description: '"" for server-wide events' }),
  user: t.String({ description: '"" for host-wide events' }),
  source: t.String({ examples: ["api"] }),
  type: t.String({ examples: ["invite.created"] }),
  actor: t.Nullable(t.String()),
  ip: t.Nullable(t.String({ description: "Client address, cut to the [audit] prefixes" })),
  country_code: t.Nullable(t.String()),
  country_name: t.Nullable(t.String()),
  continent: t.Nullable(t.String()),
  user_agent: t.Nullable(t.String()),
  details: t.Record(t.String(), t.Unknown()),
});

export const AuditPage = t.Object(
  {
    events: t.Array(AuditEvent),
    next: t.Nullable(t.Integer({ description: "Pass as ?before= for the next page; null on the last page" })),
  },
  {
    examples: [
      {
        events: [
          {
            id: 42,
            at: "2026-07-01T12:00:00.000Z",
            host: "example.com",
            user: "",
            source: "api",
            type: "invite.created",
            actor: "HTwALnKL73UU",
            ip: "203.0.113.7",
            country_code: null,
            country_name: null,
            continent: null,
            user_agent: "curl/8.5.0",
            details: { invite_id: "Q2t3bV9xRk1w", kind: "account" },
          },
        ],
        next: null,
      },
    ],
  },
);

// /api/v1/xmpp: the calls of Prosody's mod_invited (deploy/prosody/mod_invited.lua).

const ClientIp = t.Optional(
  t.Nullable(t.String({ minLength: 2, maxLength: 64, description: "The XMPP client's address as the XMPP server saw it; used for throttles and the audit log instead of the server's own", error: "ip must be an IP address of at most 64 characters, or null" })),
);
const XmppToken = t.String({ minLength: 1, maxLength: 256, description: "The preauth token the client sent", error: "token must be a string of 1 to 256 characters" });

export const XmppCheckBody = t.Object({ token: XmppToken, ip: ClientIp }, { additionalProperties: false, examples: [{ token: "Q2t3bV9xRk1wc-vhJjyB5Pb4HpAfQ2t3bV", ip: "203.0.113.7" }] });

const xmppInviteFields = {
  invite_id: t.String({ examples: ["Q2t3bV9xRk1w"] }),
  kind: Kind,
  username: t.Nullable(t.String(), { description: "The name the invite is bound to (account) or the account it resets; null: the client chooses" }),
  roles: t.Array(t.String(), { description: "The invite's roles that the host's prosody_roles allows (never prosody:admin)" }),
  expires_at: Time,
};
const xmppInviteExample = { invite_id: "Q2t3bV9xRk1w", kind: "account", username: null, roles: [], expires_at: "2026-07-08T12:00:00.000Z" };

export const XmppInvite = t.Object(xmppInviteFields, { examples: [xmppInviteExample] });

export const XmppReserveBody = t.Object(
  {
    token: XmppToken,
    username: t.String({ minLength: 1, maxLength: 1023, description: "The name as the XMPP server normalised it (nodeprep)", error: "username must be a string of 1 to 1023 characters" }),
    exists: t.Boolean({ description: "Whether the XMPP server already has an account of this name", error: "exists must be true or false" }),
    ip: ClientIp,
  },
  { additionalProperties: false, examples: [{ token: "Q2t3bV9xRk1wc-vhJjyB5Pb4HpAfQ2t3bV", username: "alice", exists: false, ip: "203.0.113.7" }] },
);

const reservationFields = {
  id: t.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, error: "reservation.id must be a positive whole number" }),
  invite_id: t.String({ pattern: "^[A-Za-z0-9_-]{1,64}$", error: "reservation.invite_id has 1 to 64 characters A-Z a-z 0-9 _ -" }),
  username: t.String({ minLength: 1, maxLength: 1023, error: "reservation.username must be a string of 1 to 1023 characters" }),
  kind: t.Union([t.Literal("account"), t.Literal("reset")], { error: 'reservation.kind must be "account" or "reset"' }),
  reserved_at: t.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: "Epoch milliseconds, as reserve answered", error: "reservation.reserved_at must be a whole number" }),
};
const reservationExample = { id: 17, invite_id: "Q2t3bV9xRk1w", username: "alice", kind: "account", reserved_at: 1782907200000 };

export const XmppReserved = t.Object(
  {
    ...xmppInviteFields,
    reservation: t.Object({ ...reservationFields, expires_at: t.Integer({ description: "Epoch milliseconds; after this invited may release the use" }) }, { description: "Send it back, unchanged, to commit or release" }),
  },
  { examples: [{ ...xmppInviteExample, username: "alice", reservation: { ...reservationExample, expires_at: 1782907800000 } }] },
);

export const XmppCommitBody = t.Object(
  { reservation: t.Object(reservationFields, { additionalProperties: true }), ip: ClientIp },
  { additionalProperties: false, examples: [{ reservation: reservationExample, ip: "203.0.113.7" }] },
);

export const XmppCommitted = t.Object(
  {
    already: t.Boolean({ description: "true: this reservation was committed before (the call is idempotent)" }),
    late: t.Boolean({ description: "true: the reservation had expired and been released, so the use was counted directly" }),
  },
  { examples: [{ already: false, late: false }] },
);

export const XmppReleaseBody = t.Object(
  { reservation: t.Object({ id: reservationFields.id, invite_id: reservationFields.invite_id }, { additionalProperties: true }), ip: ClientIp },
  { additionalProperties: false, examples: [{ reservation: { id: 17, invite_id: "Q2t3bV9xRk1w" }, ip: "203.0.113.7" }] },
);

export const XmppReleased = t.Object({ released: t.Boolean({ description: "false: the reservation was already gone (committed, released or expired)" }) }, { examples: [{ released: true }] });

const Version = (what: string) =>
  t.Optional(t.Nullable(t.String({ minLength: 1, maxLength: 64, pattern: "^[\\x21-\\x7e]+$", error: `${what} must be 1 to 64 printable ASCII characters without spaces, or null` })));

export const XmppReportBody = t.Object(
  { prosody_version: Version("prosody_version"), module_version: Version("module_version") },
  { additionalProperties: false, examples: [{ prosody_version: "0.12.3", module_version: "1" }] },
);

export const XmppReported = t.Object(
  {
    app_registration: t.Union([t.Literal("auto"), t.Boolean()], { description: "The host's app_registration setting" }),
    offered: t.Boolean({ description: "Whether invited now offers in-band registration to apps (the app button, the Link header, xmpp_uri)" }),
  },
  { examples: [{ app_registration: "auto", offered: true }] },
);

/** Error answers a route can give, for the response schemas (and so the OpenAPI document). */
export function errors(...statuses: number[]) {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody])) as Record<number, typeof ErrorBody>;
}

const accountFields = {
  username: t.String({ examples: ["alice"] }),
  invited_by: t.Nullable(t.String(), { description: "The inviting member's username; null when the CLI or an API key made the invite (or there was none)" }),
  invite_creator: t.Nullable(t.String({ description: "The raw creator of the invite the account was made with: cli, api/token/<KEY ID> or account/<user>@<host>" })),
  created_at: Time,
  disabled: t.Boolean(),
};

export const AccountUserParams = t.Object({ user: t.String({ minLength: 1, maxLength: 1023, description: "The username (any case)" }) });

const accountExample = { username: "bob", invited_by: "alice", invite_creator: "account/alice@example.com", created_at: "2026-07-02T08:30:00.000Z", disabled: false };

export const AccountDetail = t.Object(
  {
    ...accountFields,
    host: t.String(),
    roles: t.Array(t.String()),
    groups: t.Array(t.String()),
    invite_id: t.Nullable(t.String()),
    disabled_at: t.Nullable(Time),
    invitees: t.Array(t.Object({ username: t.String(), created_at: Time }), { description: "Accounts made with this member's invites, oldest first" }),
    tree: t.Array(t.Object({ ...accountFields, depth: t.Integer({ minimum: 1, description: "1: invited by this account; 2: by one of those; ..." }) }), {
      description: "Everyone below this account in the invite tree, depth first",
    }),
  },
  {
    examples: [
      {
        ...accountExample,
        host: "example.com",
        roles: [],
        groups: [],
        invite_id: "Q2t3bV9xRk1w",
        disabled_at: null,
        invitees: [{ username: "carol", created_at: "2026-07-03T10:00:00.000Z" }],
        tree: [{ username: "carol", invited_by: "bob", invite_creator: "account/bob@example.com", created_at: "2026-07-03T10:00:00.000Z", disabled: false, depth: 1 }],
      },
    ],
  },
);

export const DisableAccountBody = t.Object(
  {
    reason: t.Optional(t.String({ minLength: 1, maxLength: 200, description: "Kept in the audit event", error: "reason must be a string of 1 to 200 characters" })),
    local_only: t.Optional(t.Boolean({ description: "true: disable only invited's record, not the account on the real server", error: "local_only must be true or false" })),
  },
  { additionalProperties: false, examples: [{ reason: "spam invites" }] },
);

export const DisabledAccount = t.Object(
  {
    ...accountFields,
    changed: t.Boolean({ description: "false when the account was already disabled" }),
    sessions_ended: t.Integer(),
    invites_revoked: t.Array(t.String(), { description: "Ids of the open invites this member made, now revoked" }),
  },
  { examples: [{ ...accountExample, disabled: true, changed: true, sessions_ended: 1, invites_revoked: ["Q2t3bV9xRk1x"] }] },
);

export const DeleteAccountQuery = t.Object({
  local_only: t.Optional(t.Union([t.Literal("true"), t.Literal("false")], { description: "true: remove only invited's record and leave the account on the real server", error: "local_only is true or false" })),
});

export const DeletedAccount = t.Object(
  {
    username: t.String(),
    host: t.String(),
    downstream: t.Union([t.Literal("deleted"), t.Literal("none"), t.Literal("skipped")], {
      description: "deleted: the host's provider deleted the account on the real server first; none: the host has no provider; skipped: local_only",
    }),
  },
  { examples: [{ username: "alice", host: "example.com", downstream: "deleted" }] },
);
