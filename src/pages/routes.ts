import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { getHost, type HostConfig } from "../config/index.ts";
import { findInviteByToken, inviteStatus, inviteUrl, offeredXmppUri, type Invite, type InviteStatus } from "../invites/service.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { DEFAULT_APPS, logoAsset, renderAppList } from "./apps.ts";
import { BUILTIN_LOGOS, FAVICON, LOGO_TYPES } from "./logos.ts";
import { qrCode } from "../web/qr.ts";
import { ICON_CLOCK, ICON_CROSS, pageHeaders, relativePath, renderPage, trailingSlashRedirect } from "../web/layout.ts";
import { languageHeaders, type MessageKey, type PageLanguage } from "../i18n/index.ts";
import { languagesOf } from "../web/language.ts";

/**
 * The token is the query string (`/invite?TOKEN`), as Prosody's mod_invites_page links it; anything after a `&`
 * is parameters (`/invite?TOKEN&lang=de`). A token never holds `&`.
 */
export function tokenFromQuery(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return "";
  const raw = url.slice(q + 1);
  const end = raw.search(/[&#]/);
  return end >= 0 ? raw.slice(0, end) : raw;
}

/** Only a token-shaped string is ever put back into a URL. */
export function safeToken(token: string | null | undefined): string {
  return token && token.length <= 128 && /^[A-Za-z0-9_-]+$/.test(token) ? token : "";
}

export function appsFor(host: HostConfig) {
  return host.apps ?? DEFAULT_APPS;
}

type DeadStatus = Exclude<InviteStatus, "active"> | "unknown";

const DEAD_PAGES: Record<DeadStatus, { status: 404 | 410; pill: MessageKey; title: MessageKey; text: MessageKey; icon: RawHtml }> = {
  unknown: { status: 404, pill: "dead_unknown_pill", title: "dead_unknown_title", text: "dead_unknown_text", icon: ICON_CROSS },
  expired: { status: 410, pill: "dead_expired_pill", title: "dead_expired_title", text: "dead_expired_text", icon: ICON_CLOCK },
  used: { status: 410, pill: "dead_used_pill", title: "dead_used_title", text: "dead_used_text", icon: ICON_CROSS },
  revoked: { status: 410, pill: "dead_revoked_pill", title: "dead_revoked_title", text: "dead_revoked_text", icon: ICON_CROSS },
};

/** The query in front of the picker's `lang=xx` on the landing page: `?TOKEN&` (Prosody's form, plus the language). */
function landingQuery(token: string): string {
  const t = safeToken(token);
  return t ? `?${t}&` : "?";
}

function deadPage(path: string, status: DeadStatus, brand: string | null, language: PageLanguage, token: string): Response {
  const page = DEAD_PAGES[status];
  const { m } = language;
  const body = html`<div class="status-mark">${page.icon}</div>
<span class="pill bad">${m.html(page.pill)}</span>
<h1>${m.html(page.title)}</h1>
<p class="lead">${m.html(page.text)}</p>`;
  return new Response(renderPage({ title: m.text(page.title), path, brand, body, narrow: true, language, languageQuery: landingQuery(token) }), {
    status: page.status,
    headers: pageHeaders(languageHeaders(language)),
  });
}

/** `&lang=xx` for the page's own links when the language came from the link itself (the cookie carries the rest). */
export function langSuffix(language: PageLanguage): string {
  return language.source === "query" ? `&lang=${language.lang}` : "";
}

/** `uri`: the app link, or null while the host does not offer in-band registration (then the web form leads). */
function landingBody(invite: Invite, host: HostConfig, token: string, uri: string | null, path: string, userAgent: string | null, language: PageLanguage): RawHtml {
  const { m } = language;
  const now = Date.now();
  const assets = relativePath(path, "/assets/");
  const registerLink = `${relativePath(path, host.registerPath)}?t=${token}${langSuffix(language)}`;
  const facts: RawHtml[] = [m.html("fact_expires", { when: m.relative(invite.expiresAt - now) })];
  if (invite.kind === "reset" || invite.maxUses === 1) facts.push(m.html("fact_works_once"));
  else if (invite.maxUses === null) facts.push(m.html("fact_unlimited"));
  else {
    // Uses held by registrations still talking to the downstream server are not free either (they may come back).
    const left = Math.max(0, invite.maxUses - invite.uses - invite.reserved);
    facts.push(
      invite.reserved > 0
        ? m.html("fact_uses_left_reserved", { left, max: invite.maxUses, reserved: invite.reserved })
        : m.html("fact_uses_left", { left, max: invite.maxUses }),
    );
  }
  const factList = html`<ul class="facts">${facts.map((f) => html`<li>${f}</li>`)}</ul>`;
  const qr = html`<aside class="qr">${qrCode(inviteUrl(host, token), m.text("landing_qr_label"))}<p>${m.html("landing_qr_caption")}</p></aside>`;
  const apps = appsFor(host);
  const uriLine = html`<span class="uri" dir="ltr">${uri}</span>`;

  if (invite.kind === "reset") {
    const address = `${invite.username}@${host.name}`;
    return html`<span class="pill warn">${m.html("reset_pill")}</span>
<h1>${m.html("reset_heading")}</h1>
<p class="lead">${m.html("reset_lead", { address })}</p>
${factList}
<div class="layout">
<ol class="steps">
<li><h2>${m.html("reset_step_choose_title")}</h2><p>${m.html("reset_step_choose_text")}</p><a class="btn" href="${registerLink}">${m.html("reset_step_choose_button")}</a></li>
<li><h2>${m.html("reset_step_signin_title")}</h2><p>${m.html("reset_step_signin_text", { address })}</p>
${uri ? html`<a class="btn ghost" href="${uri}">${m.html("reset_open_button")}</a>${uriLine}` : ""}</li>
</ol>
${qr}
</div>
${apps.length > 0 ? html`<details class="platform more"><summary>${m.html("reset_need_app")}<small>${m.html("apps_count", { count: apps.length })}</small></summary><div class="nested">${renderAppList(apps, assets, userAgent, m)}</div></details>` : ""}`;
  }

  const bound = invite.username ? `${invite.username}@${host.name}` : null;
  return html`<span class="pill">${m.html("landing_pill")}</span>
<h1>${bound ? m.html("landing_welcome_bound", { address: bound }) : m.html("landing_welcome", { host: host.name })}</h1>
<p class="lead">${bound ? m.html("landing_lead_bound", { address: bound }) : m.html("landing_lead", { host: host.name })}</p>
${factList}
<div class="layout">
<ol class="steps">
${apps.length > 0 ? html`<li><h2>${m.html("landing_step_app_title")}</h2><p>${m.html("landing_step_app_text")}</p>${renderAppList(apps, assets, userAgent, m)}</li>` : ""}
${
  uri
    ? html`<li><h2>${m.html("landing_step_open_title")}</h2><p>${m.html("landing_step_open_text")}</p><a class="btn" href="${uri}">${m.html("landing_step_open_button")}</a>${uriLine}</li>
<li><h2>${m.html("landing_step_web_title")}</h2><p>${m.html("landing_step_web_text")}</p><a class="btn ghost" href="${registerLink}">${m.html("landing_step_web_button")}</a></li>`
    : html`<li><h2>${m.html("landing_step_web_only_title")}</h2><p>${m.html("landing_step_web_only_text")}</p><a class="btn" href="${registerLink}">${m.html("landing_step_web_button")}</a></li>`
}
</ol>
${qr}
</div>`;
}

/** The host a page belongs to when its invite is unknown: the host, if exactly one host serves this path. */
export function onlyHostOf(ctx: AppContext, path: string, key: "invitePath" | "registerPath"): HostConfig | null {
  const hosts = Object.values(ctx.config.hosts).filter((h) => h[key] === path);
  return hosts.length === 1 ? hosts[0]! : null;
}


/** Landing pages at each host's invite_path: `/invite?TOKEN`. */
export function landingPages(ctx: AppContext) {
  const paths = [...new Set(Object.values(ctx.config.hosts).map((h) => h.invitePath))];
  const show = (path: string) => ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const token = tokenFromQuery(request.url);
    const invite = findInviteByToken(ctx, token);
    const host = invite ? getHost(ctx.config, invite.host) : null;
    if (!invite || !host) {
      const only = onlyHostOf(ctx, path, "invitePath");
      return deadPage(path, "unknown", only?.name ?? null, languagesOf(ctx, only).choose(request), token);
    }
    const language = languagesOf(ctx, host).choose(request);
    const status = inviteStatus(invite);
    if (status !== "active") return deadPage(path, status, host.name, language, token);
    const { m } = language;
    const title = m.text(invite.kind === "reset" ? "landing_title_reset" : "landing_title", { host: host.name });
    const uri = offeredXmppUri(ctx, host, token, invite.username);
    const body = landingBody(invite, host, token, uri, path, request.headers.get("user-agent"), language);
    const footer = m.html("landing_footer");
    const vary = languageHeaders(language, ["User-Agent"]);
    return new Response(renderPage({ title, path, brand: host.name, site: host, body, footer, language, languageQuery: landingQuery(token) }), {
      status: 200,
      headers: pageHeaders(uri ? { Link: `<${uri}>; rel="alternate"`, ...vary } : vary),
    });
  };
  return paths.reduce((app, path) => app.get(path, show(path)), new Elysia({ name: "landing-pages" }));
}

const ASSET_HEADERS = {
  "Cache-Control": "public, max-age=86400",
  "X-Content-Type-Options": "nosniff",
  // An SVG opened directly must not run anything.
  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
  "Cross-Origin-Resource-Policy": "same-origin",
};

/** The favicon and client logos (built-in badges, and logo files named in a host's [[apps]]), under /assets/. */
export function assetRoutes(ctx: AppContext) {
  const files = new Map<string, { path: string; type: string }>();
  files.set("invited.svg", { path: FAVICON, type: "image/svg+xml" });
  for (const [name, path] of Object.entries(BUILTIN_LOGOS)) files.set(`logos/${name}.svg`, { path, type: "image/svg+xml" });
  for (const host of Object.values(ctx.config.hosts)) {
    for (const app of host.apps ?? []) {
      const asset = logoAsset(app.logo);
      if (asset && app.logo && !Object.hasOwn(BUILTIN_LOGOS, app.logo)) {
        files.set(asset, { path: app.logo, type: LOGO_TYPES[asset.slice(asset.lastIndexOf(".") + 1)]! });
      }
    }
  }
  const serve = async ({ request }: { request: Request }) => {
    const pathname = new URL(request.url).pathname;
    const file = files.get(pathname.slice("/assets/".length));
    if (!file) return new Response("not found\n", { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" } });
    const body = Bun.file(file.path);
    if (!(await body.exists())) {
      ctx.log.warn(`logo file is missing: ${file.path}`);
      return new Response("not found\n", { status: 404, headers: { "Content-Type": "text/plain; charset=utf-8" } });
    }
    return new Response(body, { headers: { ...ASSET_HEADERS, "Content-Type": file.type } });
  };
  return new Elysia({ name: "assets" }).get("/assets/*", serve);
}
