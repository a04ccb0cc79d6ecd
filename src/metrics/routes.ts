import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { AddressMatcher, parseIp } from "../lib/ip.ts";
import { clientIp } from "../http/request-info.ts";
import { metrics, registry } from "./index.ts";

const NOT_FOUND = { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" } };

/**
 * `GET /metrics` in Prometheus text format, only for clients whose address (after X-Forwarded-For resolution from a
 * trusted proxy) is in `server.metrics_allow`. Everyone else gets the same 404 as an unknown path, so a public proxy
 * in front of invited does not expose it.
 */
export function metricsRoutes(ctx: AppContext) {
  const allowed = new AddressMatcher(ctx.config.server.metricsAllow);
  const countAudit = ctx.db.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM audit_events");
  metrics.auditRows.collectWith((g) => g.set(countAudit.get()?.n ?? 0));
  for (const host of Object.keys(ctx.config.hosts)) {
    // Every configured host shows 0 from the start, so rate() works from the first scrape.
    metrics.invitesCreated.inc({ host }, 0);
    metrics.invitesRedeemed.inc({ host }, 0);
  }
  return new Elysia({ name: "metrics" }).get("/metrics", ({ request }) => {
    const ip = clientIp(request);
    if (!allowed.matches(ip ? parseIp(ip) : null)) return new Response("not found\n", NOT_FOUND);
    return new Response(registry.render(), {
      headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store" },
    });
  });
}
