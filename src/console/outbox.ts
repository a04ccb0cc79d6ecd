import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { describeUrl } from "../lib/webhooks.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { humanTime, postButton, table } from "../web/parts.ts";
import { DeliveryError, endpointSummaries, listDeliveries, retryDeliveries, type Delivery } from "../notify/service.ts";
import { consolePage, params, adminProblem, readAdminPost, requireAdmin, seeOther, type Admin, type ConsolePaths } from "./frame.ts";
import type { ConsoleText } from "./messages.ts";

/** ADMIN_PATH/outbox: notifications not yet delivered (pending, retrying after a failed try, given up); retry one or all. */
export function outboxPages(ctx: AppContext, paths: ConsolePaths) {
  const path = paths.outbox;
  const retryPath = `${path}/retry`;

  const state = (M: ConsoleText, d: Delivery) => (d.status === "failed" ? ["bad", M.outbox.failed] : d.attempts > 0 ? ["warn", M.outbox.retrying] : ["", M.outbox.pending]);

  const page = (admin: Admin, notice: string | null) => {
    const M = admin.T;
    const rows = listDeliveries(ctx, { limit: 200 }).map((d): (RawHtml | string)[] => {
      const [pill, text] = state(M, d);
      return [
        String(d.id),
        html`<span class="mono">${d.eventType}</span>`,
        html`<span class="mono">${describeUrl(d.endpointUrl)}</span>`,
        html`<span class="pill ${pill}">${text}</span>`,
        String(d.attempts),
        d.status === "pending" ? humanTime(d.nextAttemptAt) : "-",
        d.lastError ? `${d.lastError}${d.lastStatus ? ` (${d.lastStatus})` : ""}` : "-",
        d.status === "failed" || d.attempts > 0 ? postButton({ action: relativePath(path, retryPath), csrf: admin.csrf, label: M.outbox.retry, fields: { id: String(d.id) }, kind: "ghost", small: true, ariaLabel: `${M.outbox.retry} ${d.id}` }) : "",
      ];
    });
    const endpoints = endpointSummaries(ctx).map((e) => [html`<span class="mono">${describeUrl(e.url)}</span>`, M.outbox.pendingCount(e.pending), M.outbox.failedCount(e.failed), e.disabledAt ? M.outbox.endpointOff(humanTime(e.disabledAt)) : M.outbox.endpointOn]);
    const body = html`<h1>${M.outbox.title}</h1>
<div class="actions">${postButton({ action: relativePath(path, retryPath), csrf: admin.csrf, label: M.outbox.retryAll, fields: { all: "yes" }, kind: "ghost", small: true })}</div>
<section>${table({ head: [...M.outbox.head, ""], rows, empty: M.outbox.empty, stack: true })}</section>
<section><h2>${M.outbox.endpoints}</h2>${table({ head: ["", "", "", ""], rows: endpoints, empty: M.dashboard.providerNone, stack: true })}</section>`;
    return consolePage({ paths, path, title: M.outbox.title, body, admin, language: admin.language, notice: notice ? { kind: "ok", text: notice } : null });
  };

  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const admin = await requireAdmin(ctx, request, paths, path);
    if (admin instanceof Response) return admin;
    const M = admin.T;
    const n = params(request).get("retried");
    return page(admin, n !== null && /^\d{1,9}$/.test(n) ? M.outbox.retried(Number(n)) : null);
  };

  const retry = async ({ request }: { request: Request }) => {
    const post = await readAdminPost(ctx, request, paths, retryPath);
    if (post instanceof Response) return post;
    const { admin, fields } = post;
    const M = admin.T;
    const id = fields.single.get("id") ?? "";
    try {
      const n = fields.single.get("all") === "yes" ? await retryDeliveries(ctx, admin.origin, { all: true }) : /^\d{1,15}$/.test(id) ? await retryDeliveries(ctx, admin.origin, { id: Number(id) }) : null;
      if (n === null) return adminProblem(paths, retryPath, 404, admin, M.refused.notFoundTitle, M.refused.notFound);
      return seeOther(retryPath, path, `?retried=${n}`);
    } catch (e) {
      if (e instanceof DeliveryError) return adminProblem(paths, retryPath, 404, admin, M.refused.notFoundTitle, e.message);
      throw e;
    }
  };

  return new Elysia({ name: "console-outbox" }).get(path, show).post(retryPath, retry, { parse: "none" });
}
