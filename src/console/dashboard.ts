import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { html } from "../lib/html.ts";
import { trailingSlashRedirect } from "../web/layout.ts";
import { humanTime, table } from "../web/parts.ts";
import { barChart } from "../web/chart.ts";
import { accountCounts } from "../accounts/service.ts";
import { countOpenInvites } from "../invites/service.ts";
import { countEventsByType, lastEventOf } from "../audit/service.ts";
import { describeUrl } from "../lib/webhooks.ts";
import { endpointSummaries } from "../notify/service.ts";
import { consolePage, requireAdmin, type ConsolePaths } from "./frame.ts";

const DAY = 86_400_000;

/** ADMIN_PATH: the dashboard. Counts, registrations per day as a chart, failures, the outbox, providers, GeoIP age. */
export function dashboardPage(ctx: AppContext, paths: ConsolePaths) {
  const path = paths.base;
  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const admin = await requireAdmin(ctx, request, paths, path);
    if (admin instanceof Response) return admin;
    const M = admin.T;
    const host = admin.host.name;
    const now = Date.now();
    const firstDay = Math.floor(now / DAY) * DAY - 29 * DAY;
    const counts = accountCounts(ctx, host, firstDay);
    const bars = Array.from({ length: 30 }, (_, i) => {
      const day = firstDay + i * DAY;
      return { label: new Date(day).toISOString().slice(5, 10), value: counts.perDay.get(day) ?? 0 };
    });
    const registered = bars.reduce((n, b) => n + b.value, 0);
    const failures = countEventsByType(ctx, host, now - DAY, ["key.auth_failed", "auth.lockout", "account.login_failed"]);
    const endpoints = endpointSummaries(ctx);
    const pending = endpoints.reduce((n, e) => n + e.pending, 0);
    const failed = endpoints.reduce((n, e) => n + e.failed, 0);
    const stat = (label: string, value: number, bad = false) => html`<div class="stat${bad && value > 0 ? " bad" : ""}"><b>${value}</b><span>${label}</span></div>`;
    // Looked up over the last week only: a type that never happens would otherwise walk the whole log.
    const provisioned = admin.host.provision.type !== "none";
    const lastFail = provisioned ? lastEventOf(ctx, host, "provision.failed", now - 7 * DAY) : null;
    const lastOk = provisioned ? lastEventOf(ctx, host, "account.registered", now - 7 * DAY) : null;
    const providerRows = [
      ...(provisioned
        ? [[html`<span class="mono">${M.dashboard.provider(admin.host.provision.type)}</span>`, lastOk ? humanTime(lastOk.at) : M.dashboard.notThisWeek, lastFail ? humanTime(lastFail.at) : M.dashboard.notThisWeek]]
        : []),
      ...endpoints.map((e) => [html`<span class="mono">${describeUrl(e.url)}</span>${e.disabledAt ? html` <span class="pill bad">${M.outbox.endpointOff(humanTime(e.disabledAt))}</span>` : ""}`, M.outbox.pendingCount(e.pending), M.outbox.failedCount(e.failed)]),
    ];
    const built = ctx.geoip.builtAt;
    const geoip = ctx.geoip.source === "disabled" ? M.dashboard.geoipOff : `${ctx.geoip.source}: ${built ? M.dashboard.geoipAge(Math.floor((now - built) / DAY)) : M.dashboard.geoipUnknown}`;
    const body = html`<h1>${M.dashboard.title}</h1>
<div class="stats">${stat(M.dashboard.accounts, counts.total)}${stat(M.dashboard.openInvites, countOpenInvites(ctx, host, now))}${stat(M.dashboard.registrations30, registered)}${stat(M.dashboard.keyFailures, failures.get("key.auth_failed")!, true)}${stat(M.dashboard.lockouts, failures.get("auth.lockout")!, true)}${stat(M.dashboard.loginFailures, failures.get("account.login_failed")!, true)}${stat(M.dashboard.pending, pending)}${stat(M.dashboard.failed, failed, true)}</div>
<section><h2>${M.dashboard.chartTitle}</h2><div class="chart">${barChart({ bars, label: M.dashboard.chartLabel(registered) })}</div></section>
<section><h2>${M.dashboard.providers}</h2>${table({ head: ["", M.dashboard.lastSuccess, M.dashboard.lastFailure], rows: providerRows, empty: M.dashboard.providerNone, stack: true })}</section>
<section><h2>${M.dashboard.geoip}</h2><p class="muted">${geoip}</p></section>`;
    return consolePage({ paths, path, title: M.dashboard.title, body, admin, language: admin.language });
  };
  return new Elysia({ name: "console-dashboard" }).get(path, show);
}
