import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { apiAuth } from "./auth.ts";
import { ApiError } from "./errors.ts";
import { AuditPage, AuditQuery, errors } from "./schemas.ts";
import { iso } from "../invites/view.ts";
import { normaliseUsername } from "../accounts/service.ts";
import { queryEvents, type AuditEvent } from "../audit/service.ts";

function eventView(r: AuditEvent) {
  return {
    id: r.id,
    at: iso(r.at),
    host: r.host,
    user: r.user,
    source: r.source,
    type: r.type,
    actor: r.actor,
    ip: r.ip,
    country_code: r.countryCode,
    country_name: r.countryName,
    continent: r.continent,
    user_agent: r.userAgent,
    details: r.details,
  };
}

/** GET /api/v1/audit: the audit log of the key's host. */
export function auditController(ctx: AppContext) {
  return new Elysia({ name: "api-v1-audit", normalize: false }).use(apiAuth(ctx)).get(
    "/api/v1/audit",
    ({ query, apiHost }) => {
      let since: number | undefined;
      if (query.since !== undefined) {
        since = Date.parse(query.since);
        if (!Number.isFinite(since)) throw new ApiError("invalid_request", "since must be an ISO 8601 time");
      }
      const limit = query.limit ?? 50;
      // serverWide: false — host-less rows (server start/stop, refused keys of no host) can name other hosts' clients.
      const rows = queryEvents(ctx, {
        serverWide: false,
        host: apiHost.name,
        user: query.user === undefined ? undefined : normaliseUsername(query.user),
        global: query.global,
        since,
        type: query.type,
        beforeId: query.before,
        limit: limit + 1,
      });
      const page = rows.slice(0, limit);
      return { events: page.map(eventView), next: rows.length > limit ? page[page.length - 1]!.id : null };
    },
    {
      scope: "audit:read",
      query: AuditQuery,
      response: { 200: AuditPage, ...errors(400, 401, 403, 429, 503) },
      detail: {
        summary: "Read the audit log",
        description:
          "Events of the key's host, newest first. Page with ?before=<next> until next is null. IPs are already cut to the [audit] prefixes.\n\nRequires scope `audit:read`.",
        tags: ["audit"],
      },
    },
  );
}
