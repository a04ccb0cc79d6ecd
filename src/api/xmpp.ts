import { Elysia } from "elysia";
import type { AppContext, Origin } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { usernameProblemMessage, type UsernameProblem } from "../accounts/service.ts";
import { parseIp } from "../lib/ip.ts";
import { checkXmppInvite, commitXmppRegistration, releaseXmppReservation, reserveXmppRegistration, type XmppInvite, type XmppRefusal } from "../registration/xmpp.ts";
import { apiAuth } from "./auth.ts";
import { ApiError } from "./errors.ts";
import { appRegistrationOffered, recordProsodyReport } from "../prosody/service.ts";
import {
  XmppCheckBody,
  XmppCommitBody,
  XmppCommitted,
  XmppInvite as XmppInviteSchema,
  XmppReleaseBody,
  XmppReleased,
  XmppReportBody,
  XmppReported,
  XmppReserveBody,
  XmppReserved,
  errors,
} from "./schemas.ts";

const NOTE =
  "\n\nFor Prosody's mod_invited (deploy/prosody/mod_invited.lua). Requires scope `invite:xmpp`. `ip` is the XMPP client's address as the server saw it:" +
  " with this scope only, invited uses it (not the caller's) for the audit log and the registration throttle.";

/** /api/v1/xmpp: the in-band registration flow of an XMPP server; every rule is in registration/xmpp.ts. */
export function xmppController(ctx: AppContext) {
  return new Elysia({ name: "api-v1-xmpp", normalize: false })
    .use(apiAuth(ctx))
    .post(
      "/api/v1/xmpp/check",
      async ({ body, apiHost }) => {
        const result = await checkXmppInvite(ctx, clientOrigin(body.ip), apiHost, body.token);
        if (!result.ok) throw refusalError(apiHost, result);
        return inviteAnswer(result.value);
      },
      {
        scope: "invite:xmpp",
        parse: "json",
        body: XmppCheckBody,
        response: { 200: XmppInviteSchema, ...errors(400, 401, 403, 404, 409, 410, 429, 503) },
        detail: {
          summary: "Check a preauth token (read-only)",
          description:
            "At the client's `urn:xmpp:pars:0` preauth: is this token a live invite of the key's host? Nothing is consumed. 404 invite_not_found means the token is not invited's (it may be the XMPP server's own)." +
            NOTE,
          tags: ["xmpp"],
        },
      },
    )
    .post(
      "/api/v1/xmpp/reserve",
      async ({ body, apiHost }) => {
        const result = await reserveXmppRegistration(ctx, clientOrigin(body.ip), apiHost, { token: body.token, username: body.username, exists: body.exists });
        if (!result.ok) throw refusalError(apiHost, result);
        const r = result.reservation;
        return {
          ...inviteAnswer(result.value),
          reservation: { id: r.id, invite_id: r.inviteId, username: r.username, kind: r.kind, reserved_at: r.reservedAt, expires_at: r.expiresAt },
        };
      },
      {
        scope: "invite:xmpp",
        parse: "json",
        body: XmppReserveBody,
        response: { 200: XmppReserved, ...errors(400, 401, 403, 404, 409, 410, 422, 429, 503) },
        detail: {
          summary: "Reserve one use of an invite for a name",
          description:
            "When the XMPP server is about to create the account (or reset its password): checks invited's username rules, a bound invite's name, a reset invite's account, and holds one use for this name." +
            " The reservation lasts 10 minutes; commit or release it." +
            NOTE,
          tags: ["xmpp"],
        },
      },
    )
    .post(
      "/api/v1/xmpp/commit",
      async ({ body, apiHost }) => {
        const r = body.reservation;
        const result = await commitXmppRegistration(ctx, clientOrigin(body.ip), apiHost, { id: r.id, inviteId: r.invite_id, username: r.username, kind: r.kind, reservedAt: r.reserved_at });
        if (!result.ok) throw new ApiError("invite_not_found", "no such invite on this host");
        return { already: result.already, late: result.late };
      },
      {
        scope: "invite:xmpp",
        parse: "json",
        body: XmppCommitBody,
        response: { 200: XmppCommitted, ...errors(400, 401, 403, 404, 429, 503) },
        detail: {
          summary: "Record an account the XMPP server created (or a password it reset)",
          description:
            "Turns the reserved use into a real one and records the account (no password hash: the password stays in the XMPP server), its ledger row and the invite.used and account.registered (or account.password_reset) events." +
            " Idempotent: repeating a commit answers 200 with already=true. Accepted after the reservation expired: the use is then counted directly (late=true), even past max_uses or the invite's expiry, because the account exists." +
            NOTE,
          tags: ["xmpp"],
        },
      },
    )
    .post(
      "/api/v1/xmpp/release",
      async ({ body, apiHost }) => ({ released: await releaseXmppReservation(ctx, apiHost, { id: body.reservation.id, inviteId: body.reservation.invite_id }) }),
      {
        scope: "invite:xmpp",
        parse: "json",
        body: XmppReleaseBody,
        response: { 200: XmppReleased, ...errors(400, 401, 403, 429, 503) },
        detail: {
          summary: "Give a reserved use back",
          description: "The registration failed or the client's stream closed before the account was created. Idempotent." + NOTE,
          tags: ["xmpp"],
        },
      },
    )
    .post(
      "/api/v1/xmpp/report",
      async ({ body, apiHost }) => {
        await recordProsodyReport(ctx, apiHost, { prosodyVersion: body.prosody_version ?? null, moduleVersion: body.module_version ?? null });
        return { app_registration: apiHost.appRegistration, offered: appRegistrationOffered(ctx, apiHost) };
      },
      {
        scope: "invite:xmpp",
        parse: "json",
        body: XmppReportBody,
        response: { 200: XmppReported, ...errors(400, 401, 403, 429, 503) },
        detail: {
          summary: "Report that the XMPP server's module is running",
          description:
            "mod_invited calls this at start and every 5 minutes. With app_registration = \"auto\" (the default), invited offers the app button, the Link header and xmpp_uri only while the last report is less than a day old; `invited check` shows it." +
            "\n\nRequires scope `invite:xmpp`.",
          tags: ["xmpp"],
        },
      },
    );
}

/** The origin of a call: the XMPP client, at the address the server reports. */
function clientOrigin(ip: string | null | undefined): Origin {
  if (ip !== undefined && ip !== null && !parseIp(ip)) throw new ApiError("invalid_request", "ip must be an IP address");
  return { source: "xmpp", actor: null, ip: ip ?? null, userAgent: null };
}

function inviteAnswer(v: XmppInvite) {
  return { invite_id: v.invite.id, kind: v.kind, username: v.username, roles: v.prosodyRoles, expires_at: new Date(v.invite.expiresAt).toISOString() };
}

/** The refusals of check and reserve as API errors; a username rule's finding is named in the message. */
function refusalError(host: HostConfig, refusal: { reason: XmppRefusal; problem?: UsernameProblem } | { reason: "throttled"; retryAfterMs: number }): ApiError {
  if (refusal.reason === "throttled") {
    const seconds = String(Math.max(1, Math.ceil(refusal.retryAfterMs / 1000)));
    return new ApiError("too_many_registrations", "too many registrations from this client's network; retry later", { "Retry-After": seconds });
  }
  if ("problem" in refusal && refusal.problem) return new ApiError("invalid_username", usernameProblemMessage(refusal.problem, host));
  switch (refusal.reason) {
    case "invite_expired":
      return new ApiError("invite_expired", "the invite has expired");
    case "invite_used":
      return new ApiError("invite_used", "the invite has no uses left");
    case "invite_revoked":
      return new ApiError("invite_revoked", "the invite was revoked");
    case "invite_busy":
      return new ApiError("invite_busy", "every remaining use of the invite is held by a registration in progress; try again later", { "Retry-After": "30" });
    case "username_not_allowed":
      return new ApiError("username_mismatch", "the invite is for another username");
    case "username_taken":
      return new ApiError("username_taken", "this username is already taken");
    case "account_missing":
      return new ApiError("account_missing", "there is no account of this name to reset");
    default:
      return new ApiError("invite_not_found", "no such invite on this host");
  }
}
