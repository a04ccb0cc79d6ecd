import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { pathOf } from "../lib/url.ts";
import { addressGate, consolePaths } from "./frame.ts";
import { dashboardPage } from "./dashboard.ts";
import { mapPage } from "./map.ts";
import { invitePages } from "./invites.ts";
import { accountPages } from "./accounts.ts";
import { keyPages } from "./keys.ts";
import { auditPages } from "./audit.ts";
import { outboxPages } from "./outbox.ts";
import { CONSOLE_SCRIPT } from "./console.js.ts";

/**
 * Every page under [server] admin_path, one area per file. A client outside [server] admin_allow gets the same 404 as
 * an unknown path for everything below admin_path, before any handler runs (as /metrics does for metrics_allow).
 */
export function consolePages(ctx: AppContext) {
  const paths = consolePaths(ctx);
  const allowed = addressGate(ctx);
  const base = paths.base;
  return new Elysia({ name: "console" })
    .onRequest(({ request }) => {
      const p = pathOf(request.url);
      if ((p === base || p.startsWith(`${base}/`)) && !allowed(request))
        return new Response("not found\n", { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" } });
    })
    .get(paths.script, () => new Response(CONSOLE_SCRIPT, { headers: { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff" } }))
    .use(dashboardPage(ctx, paths))
    .use(mapPage(ctx, paths))
    .use(invitePages(ctx, paths))
    .use(accountPages(ctx, paths))
    .use(keyPages(ctx, paths))
    .use(auditPages(ctx, paths))
    .use(outboxPages(ctx, paths));
}
