import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { apiAuth } from "./auth.ts";
import { ApiError } from "./errors.ts";
import { AuditPage, AuditQuery, errors } from "./schemas.ts";
import { iso } from "../invites/view.ts";
import { normaliseUsername } from "../accounts/service.ts";

interface AuditFilter {
  host: string;
  user?: string;
  global?: boolean;
  since?: number;
  type?: string;
  beforeId?: number;
  limit: number;
}

interface AuditRow {
  id: number;
  at: number;
  host: string;
  user: string;
  source: string;
  type: string;
  actor: string | null;
  ip: string | null;
  countryCode: string | null;
  countryName: string | null;
  continent: string | null;
  userAgent: string | null;
  details: string;
}

/**
 * Newest first, one host only (never server-wide rows: those can name other hosts' clients).
 * TODO(lead): replace with queryEvents() from src/audit/service.ts once the audit branch lands; same filters.
 */
function readAuditEvents(ctx: AppContext, f: AuditFilter): AuditRow[] {
  const where = ["host = $host"];
  const params: Record<string, string | number> = { host: f.host, limit: f.limit };
  if (f.user !== undefined) {
    where.push("user = $user");
    params.user = f.user;
  } else if (f.global === true) where.push("user = ''");
  else if (f.global === false) where.push("user <> ''");
  if (f.since !== undefined) {
    where.push("at >= $since");
    params.since = f.since;
  }
  if (f.type !== undefined) {
    if (f.type.endsWith(".*")) {
      where.push("type GLOB $type");
      params.type = f.type; // the schema allows only [a-z_.] before ".*", so no other GLOB characters
    } else {
      where.push("type = $type");
      params.type = f.type;
    }
  }
  if (f.beforeId !== undefined) {
    where.push("(at, id) < (SELECT at, id FROM audit_events WHERE id = $before)");
    params.before = f.beforeId;
  }
  const sql = `SELECT id, at, host, user, source, type, actor, ip, country_code AS countryCode, country_name AS countryName, continent,
    user_agent AS userAgent, details FROM audit_events WHERE ${where.join(" AND ")} ORDER BY at DESC, id DESC LIMIT $limit`;
  return ctx.db.sqlite.query(sql).all(params as never) as AuditRow[];
}

function eventView(r: AuditRow) {
  let details: Record<string, unknown> = {};
  try {
    const v = JSON.parse(r.details) as unknown;
    if (v && typeof v === "object" && !Array.isArray(v)) details = v as Record<string, unknown>;
  } catch {}
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
    details,
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
      const rows = readAuditEvents(ctx, {
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
