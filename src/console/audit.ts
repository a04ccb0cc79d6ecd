import { Elysia } from "elysia";
import { stringify } from "csv-stringify/sync";
import type { AppContext } from "../context.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { field, humanTime, table } from "../web/parts.ts";
import { AUDIT_TYPES, queryEvents, type AuditEvent, type AuditQuery } from "../audit/service.ts";
import { normaliseUsername } from "../accounts/service.ts";
import { consolePage, pager, params, adminProblem, requireAdmin, type ConsolePaths } from "./frame.ts";
import type { ConsoleText } from "./messages.ts";

/**
 * ADMIN_PATH/audit: the audit log filtered by type (or family), account, address or prefix, country and time, newest
 * first with keyset paging (`before` = the last id shown), and the filtered rows as CSV or JSON.
 */

const PAGE = 50;
/** An export holds at most this many rows (newest first); narrow the filters for more. */
const EXPORT_MAX = 100_000;

class FilterError extends Error {}

function parseTime(M: ConsoleText, text: string): number | null {
  const t = text.trim();
  if (!t) return null;
  const iso = t.replace(" ", "T");
  const ms = Date.parse(/T/.test(iso) && !/(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? `${iso}Z` : iso);
  if (!Number.isFinite(ms) || !/^\d{4}-\d{2}-\d{2}/.test(t)) throw new FilterError(M.audit.errors.time);
  return ms;
}

/** The query string's filters → an AuditQuery; a bad one is a FilterError (a 400 page). */
export function auditFilters(M: ConsoleText, host: string, q: URLSearchParams): AuditQuery {
  const get = (k: string) => (q.get(k) ?? "").trim().slice(0, 200);
  const type = get("type");
  if (type && !(AUDIT_TYPES as readonly string[]).includes(type) && !(type.endsWith(".*") && AUDIT_TYPES.some((k) => k.startsWith(type.slice(0, -1)))))
    throw new FilterError(M.audit.errors.type);
  const ip = get("ip");
  if (ip && !/^[0-9A-Fa-f:.]{1,45}$/.test(ip)) throw new FilterError(M.audit.errors.ip);
  const country = get("country").toUpperCase();
  if (country && !/^[A-Z]{2}$/.test(country)) throw new FilterError(M.audit.errors.country);
  const before = get("before");
  if (before && !/^\d{1,15}$/.test(before)) throw new FilterError(M.refused.badPage);
  const user = get("user");
  return {
    host,
    type: type || null,
    user: user ? normaliseUsername(user) : null,
    ipPrefix: ip ? ip.toLowerCase() : null,
    country: country || null,
    since: parseTime(M, get("since")),
    until: parseTime(M, get("until")),
    beforeId: before ? Number(before) : null,
  };
}

function detailsText(e: AuditEvent): string {
  const s = JSON.stringify(e.details);
  return s === "{}" ? "" : s;
}

export function auditPages(ctx: AppContext, paths: ConsolePaths) {
  const path = paths.audit;
  const csvPath = `${path}/export.csv`;
  const jsonPath = `${path}/export.json`;

  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const admin = await requireAdmin(ctx, request, paths, path);
    if (admin instanceof Response) return admin;
    const M = admin.T;
    const q = params(request);
    let filters: AuditQuery;
    try {
      filters = auditFilters(M, admin.host.name, q);
    } catch (e) {
      if (!(e instanceof FilterError)) throw e;
      return adminProblem(paths, path, 400, admin, M.refused.badInputTitle, e.message);
    }
    const rows = queryEvents(ctx, { ...filters, limit: PAGE + 1 });
    const shown = rows.slice(0, PAGE);
    const next = rows.length > PAGE ? String(shown[shown.length - 1]!.id) : null;
    const exportQuery = new URLSearchParams(q);
    exportQuery.delete("before");
    const v = (k: string) => q.get(k) ?? "";
    const body = html`<h1>${M.audit.title}</h1>
<form method="get" action="${relativePath(path, path)}" class="filters">
${field({ id: "type", name: "type", label: M.audit.type, value: v("type"), verbatim: true, maxlength: 64 })}
${field({ id: "user", name: "user", label: M.audit.user, value: v("user"), verbatim: true, maxlength: 200 })}
${field({ id: "ip", name: "ip", label: M.audit.ip, value: v("ip"), verbatim: true, maxlength: 45 })}
${field({ id: "country", name: "country", label: M.audit.country, value: v("country"), verbatim: true, maxlength: 2 })}
${field({ id: "since", name: "since", label: M.audit.since, value: v("since"), verbatim: true, maxlength: 25 })}
${field({ id: "until", name: "until", label: M.audit.until, value: v("until"), verbatim: true, maxlength: 25 })}
<button class="btn ghost" type="submit">${M.common.filter}</button></form>
<div class="actions"><a class="btn ghost small" href="${relativePath(path, csvPath)}?${exportQuery.toString()}" download>${M.audit.csv}</a><a class="btn ghost small" href="${relativePath(path, jsonPath)}?${exportQuery.toString()}" download>${M.audit.json}</a></div>
<section>${table({
      head: [...M.audit.head],
      rows: shown.map((e): (RawHtml | string)[] => [
        humanTime(e.at),
        html`<span class="mono">${e.type}</span>`,
        e.user || "-",
        e.source,
        e.actor ?? "-",
        e.ip ?? "-",
        e.countryCode ?? "-",
        html`<span class="mono small">${detailsText(e).slice(0, 300)}</span>`,
      ]),
      empty: M.audit.empty,
      stack: true,
    })}${pager(M, path, q, next, "before")}</section>`;
    return consolePage({ paths, path, title: M.audit.title, body, admin, language: admin.language });
  };

  /** Every filtered row, newest first, in pages of 1000 (each an index walk), up to EXPORT_MAX. */
  const collect = (filters: AuditQuery): AuditEvent[] => {
    const out: AuditEvent[] = [];
    let beforeId = filters.beforeId ?? null;
    while (out.length < EXPORT_MAX) {
      const page = queryEvents(ctx, { ...filters, beforeId, limit: Math.min(1000, EXPORT_MAX - out.length) });
      out.push(...page);
      if (page.length < 1000) break;
      beforeId = page[page.length - 1]!.id;
    }
    return out;
  };

  const exporter = (format: "csv" | "json") => async ({ request }: { request: Request }) => {
    const here = format === "csv" ? csvPath : jsonPath;
    const admin = await requireAdmin(ctx, request, paths, here);
    if (admin instanceof Response) return admin;
    const M = admin.T;
    let filters: AuditQuery;
    try {
      filters = auditFilters(M, admin.host.name, params(request));
    } catch (e) {
      if (!(e instanceof FilterError)) throw e;
      return adminProblem(paths, here, 400, admin, M.refused.badInputTitle, e.message);
    }
    const events = collect(filters);
    const name = `audit-${admin.host.name}-${new Date().toISOString().slice(0, 10)}.${format}`;
    const headers = { "Cache-Control": "no-store", "Content-Disposition": `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, "_")}"`, "X-Content-Type-Options": "nosniff" };
    if (format === "json") {
      const rows = events.map((e) => ({ ...e, at: new Date(e.at).toISOString() }));
      return new Response(JSON.stringify(rows, null, 1), { headers: { ...headers, "Content-Type": "application/json; charset=utf-8" } });
    }
    // A cell starting with = + - @ would be a formula in a spreadsheet: prefixed with ' (OWASP CSV injection).
    const cell = (v: string | null) => (v && /^[=+\-@\t\r]/.test(v) ? `'${v}` : (v ?? ""));
    const csv = stringify(
      events.map((e) => [e.id, new Date(e.at).toISOString(), e.host, e.type, cell(e.user), e.source, cell(e.actor), e.ip ?? "", e.countryCode ?? "", e.city ?? "", cell(e.userAgent), cell(detailsText(e))]),
      { header: true, columns: ["id", "at", "host", "type", "user", "source", "actor", "ip", "country", "city", "user_agent", "details"] },
    );
    return new Response(csv, { headers: { ...headers, "Content-Type": "text/csv; charset=utf-8" } });
  };

  return new Elysia({ name: "console-audit" }).get(path, show).get(csvPath, exporter("csv")).get(jsonPath, exporter("json"));
}
