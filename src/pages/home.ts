import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { html } from "../lib/html.ts";
import { pageHeaders, renderPage } from "../web/layout.ts";
import { languagesOf } from "../web/language.ts";
import { languageHeaders } from "../i18n/index.ts";

/**
 * GET / when no host's page lives there: a redirect to `[server] home_url`, or a small page naming the service and
 * the hosts it hands out invites for, so a person who trims an invite link to the bare site does not meet "not found".
 */
export function homePage(ctx: AppContext) {
  const hosts = Object.values(ctx.config.hosts);
  const taken = hosts.some((h) => h.invitePath === "/" || h.registerPath === "/") || ctx.config.server.invitesApiPath === "/";
  const app = new Elysia({ name: "home" });
  if (taken) return app;
  const homeUrl = ctx.config.server.homeUrl;
  return app.get("/", ({ request }) => {
    if (homeUrl) return new Response(null, { status: 302, headers: { Location: homeUrl, "Cache-Control": "no-store" } });
    const language = languagesOf(ctx, hosts.length === 1 ? hosts[0]! : null).choose(request);
    const { m } = language;
    const names = new Intl.ListFormat(language.lang, { type: "conjunction" }).format(hosts.map((h) => h.name));
    const body = html`<h1>${m.html("home_heading")}</h1>
<p class="lead">${m.html("home_lead", { hosts: names })}</p>`;
    const brand = hosts.length === 1 ? hosts[0]!.name : null;
    return new Response(renderPage({ title: m.text("home_heading"), path: "/", brand, body, narrow: true, language, languageQuery: "?" }), {
      headers: pageHeaders(languageHeaders(language)),
    });
  });
}
