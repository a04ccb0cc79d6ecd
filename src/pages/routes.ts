import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { getHost, type HostConfig } from "../config/index.ts";
import { findInviteByToken, inviteStatus, inviteUrl, offeredXmppUri, type Invite, type InviteStatus } from "../invites/service.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { DEFAULT_APPS, logoAsset, renderAppList } from "./apps.ts";
import { BUILTIN_LOGOS, FAVICON, LOGO_TYPES } from "./logos.ts";
import { qrCode } from "../web/qr.ts";
import { ICON_CLOCK, ICON_CROSS, pageHeaders, relativePath, renderPage, trailingSlashRedirect } from "../web/layout.ts";

/** The token is the whole query string (`/invite?TOKEN`), as Prosody's mod_invites_page links it. */
export function tokenFromQuery(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return "";
  const raw = url.slice(q + 1);
  const hash = raw.indexOf("#");
  return hash >= 0 ? raw.slice(0, hash) : raw;
}

/** Only a token-shaped string is ever put back into a URL. */
export function safeToken(token: string | null | undefined): string {
  return token && token.length <= 128 && /^[A-Za-z0-9_-]+$/.test(token) ? token : "";
}

export function appsFor(host: HostConfig) {
  return host.apps ?? DEFAULT_APPS;
}

/** "in 6 days", "in 3 hours", "in 12 minutes", "in a few seconds". */
export function timeLeft(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
  ];
  for (const [size, name] of units) {
    const n = Math.floor(ms / size);
    if (n >= 1) return `in ${n} ${name}${n === 1 ? "" : "s"}`;
  }
  return "in a few seconds";
}

const DEAD_PAGES: Record<Exclude<InviteStatus, "active"> | "unknown", { status: 404 | 410; pill: string; title: string; text: string; icon: RawHtml }> = {
  unknown: {
    status: 404,
    pill: "Not found",
    title: "This invite link is invalid",
    text: "There is no invite at this address. Check that you opened the whole link, or ask the person who invited you to send it again.",
    icon: ICON_CROSS,
  },
  expired: {
    status: 410,
    pill: "Expired",
    title: "This invite has expired",
    text: "Invites work only for a limited time, and this one has run out. Ask the person who invited you for a new link.",
    icon: ICON_CLOCK,
  },
  used: {
    status: 410,
    pill: "Already used",
    title: "This invite has already been used",
    text: "Every use of this invite has been taken. If you created your account with it, you're all set: sign in from your app. Otherwise ask for a new invite.",
    icon: ICON_CROSS,
  },
  revoked: {
    status: 410,
    pill: "Revoked",
    title: "This invite has been withdrawn",
    text: "The person who created this invite has revoked it, so it can no longer be used. Ask them for a new link if you still need one.",
    icon: ICON_CROSS,
  },
};

function deadPage(path: string, status: keyof typeof DEAD_PAGES, brand: string | null): Response {
  const page = DEAD_PAGES[status];
  const body = html`<div class="status-mark">${page.icon}</div>
<span class="pill bad">${page.pill}</span>
<h1>${page.title}</h1>
<p class="lead">${page.text}</p>`;
  return new Response(renderPage({ title: page.title, path, brand, body, narrow: true }), { status: page.status, headers: pageHeaders() });
}

/** `uri`: the app link, or null while the host does not offer in-band registration (then the web form leads). */
function landingBody(invite: Invite, host: HostConfig, token: string, uri: string | null, path: string, userAgent: string | null): RawHtml {
  const now = Date.now();
  const assets = relativePath(path, "/assets/");
  const registerLink = `${relativePath(path, host.registerPath)}?t=${token}`;
  const facts: string[] = [`Expires ${timeLeft(invite.expiresAt - now)}`];
  if (invite.kind === "reset" || invite.maxUses === 1) facts.push("Works once");
  else if (invite.maxUses === null) facts.push("Can be used by several people");
  else {
    // Uses held by registrations still talking to the downstream server are not free either (they may come back).
    const left = Math.max(0, invite.maxUses - invite.uses - invite.reserved);
    facts.push(`${left} of ${invite.maxUses} uses left${invite.reserved > 0 ? ` (${invite.reserved} being used right now)` : ""}`);
  }
  const factList = html`<ul class="facts">${facts.map((f) => html`<li>${f}</li>`)}</ul>`;
  const qr = html`<aside class="qr">${qrCode(inviteUrl(host, token), "QR code of this invite page")}<p>On another device? Scan this code to open this invite there.</p></aside>`;
  const apps = appsFor(host);

  if (invite.kind === "reset") {
    const address = `${invite.username}@${host.name}`;
    return html`<span class="pill warn">Password reset</span>
<h1>Set a new password</h1>
<p class="lead">This link lets you choose a new password for <span class="addr">${address}</span>.</p>
${factList}
<div class="layout">
<ol class="steps">
<li><h2>Choose your new password</h2><p>It replaces the old one straight away.</p><a class="btn" href="${registerLink}">Set a new password</a></li>
<li><h2>Sign in again</h2><p>Use <span class="addr">${address}</span> and your new password in your chat app.</p>
${uri ? html`<a class="btn ghost" href="${uri}">Open in my app</a><span class="uri">${uri}</span>` : ""}</li>
</ol>
${qr}
</div>
${apps.length > 0 ? html`<details class="platform more"><summary>Need a chat app?<small>${apps.length} apps</small></summary><div class="nested">${renderAppList(apps, assets, userAgent)}</div></details>` : ""}`;
  }

  const bound = invite.username ? `${invite.username}@${host.name}` : null;
  return html`<span class="pill">Invitation</span>
<h1>${bound ? html`Your account <span class="addr">${bound}</span> is waiting` : html`You're invited to chat on ${host.name}`}</h1>
<p class="lead">${
    bound
      ? html`You've been invited to create the account <span class="addr">${bound}</span>, which you can use with any XMPP chat app.`
      : html`You've been invited to create an account on <span class="addr">${host.name}</span>. You pick the username, then chat with any XMPP app.`
  }</p>
${factList}
<div class="layout">
<ol class="steps">
${apps.length > 0 ? html`<li><h2>Get a chat app</h2><p>Install one of these. They all work with your new account.</p>${renderAppList(apps, assets, userAgent)}</li>` : ""}
${
  uri
    ? html`<li><h2>Open your invite in the app</h2><p>Once the app is installed, tap the button below. The app sets up your account for you.</p><a class="btn" href="${uri}">Open invite in my app</a><span class="uri">${uri}</span></li>
<li><h2>Or create your account here</h2><p>If the button does nothing, create the account in your browser, then sign in from any app.</p><a class="btn ghost" href="${registerLink}">Create account on the web</a></li>`
    : html`<li><h2>Create your account</h2><p>Choose your username and password in your browser, then sign in from any app.</p><a class="btn" href="${registerLink}">Create account on the web</a></li>`
}
</ol>
${qr}
</div>`;
}

/** Brand for a page whose invite is unknown: the host, if exactly one host serves this path. */
function brandFor(ctx: AppContext, path: string, key: "invitePath" | "registerPath"): string | null {
  const hosts = Object.values(ctx.config.hosts).filter((h) => h[key] === path);
  return hosts.length === 1 ? hosts[0]!.name : null;
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
    if (!invite || !host) return deadPage(path, "unknown", brandFor(ctx, path, "invitePath"));
    const status = inviteStatus(invite);
    if (status !== "active") return deadPage(path, status, host.name);
    const title = invite.kind === "reset" ? `Reset your password on ${host.name}` : `Invite to ${host.name}`;
    const uri = offeredXmppUri(ctx, host, token, invite.username);
    const body = landingBody(invite, host, token, uri, path, request.headers.get("user-agent"));
    const footer = "Anyone with this link can use the invite, so share it only with the people it is meant for.";
    return new Response(renderPage({ title, path, brand: host.name, body, footer }), {
      status: 200,
      headers: pageHeaders(uri ? { Link: `<${uri}>; rel="alternate"`, Vary: "User-Agent" } : { Vary: "User-Agent" }),
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
