import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { findInviteByToken, inviteStatus } from "../invites/service.ts";
import { html } from "../lib/html.ts";

const PAGE_HEADERS = {
  "Content-Type": "text/html; charset=utf-8",
  "Cache-Control": "no-store",
  "Referrer-Policy": "no-referrer",
  "X-Robots-Tag": "noindex",
  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
};

/** The token is the whole query string (`/invite?TOKEN`), as Prosody's mod_invites_page links it. */
export function tokenFromQuery(url: string): string {
  const q = url.indexOf("?");
  if (q < 0) return "";
  const raw = url.slice(q + 1);
  const hash = raw.indexOf("#");
  return hash >= 0 ? raw.slice(0, hash) : raw;
}

export function landingPages(ctx: AppContext) {
  const paths = [...new Set(Object.values(ctx.config.hosts).map((h) => h.invitePath))];
  const show = ({ request }: { request: Request }) => {
    const invite = findInviteByToken(ctx, tokenFromQuery(request.url));
    const status = invite ? inviteStatus(invite) : "unknown";
    if (!invite || status !== "active") {
      const body = html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Invite not valid</title></head>
<body><h1>This invite is invalid or expired</h1><p>Ask the person who invited you for a new link.</p></body></html>`;
      return new Response(body.value, { status: 404, headers: PAGE_HEADERS });
    }
    const body = html`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Invite to ${invite.host}</title></head>
<body><h1>You have been invited to ${invite.host}</h1></body></html>`;
    return new Response(body.value, { status: 200, headers: PAGE_HEADERS });
  };
  return paths.reduce((app, path) => app.get(path, show), new Elysia({ name: "landing-pages" }));
}
