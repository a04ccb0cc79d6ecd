import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { requestOrigin } from "../http/request-info.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { facts, humanTime, postButton, table, type FlashKind } from "../web/parts.ts";
import { queryEvents, type AuditEvent } from "../audit/service.ts";
import { countryNameOf } from "../audit/geoip.ts";
import { accountProfile } from "../accounts/tree.ts";
import { endAllSessions, endSession, listSessions, type Session } from "../sessions/service.ts";
import { clearedSessionCookies } from "../sessions/http.ts";
import { accountPage, readSignedInPost, requireSignedIn, seeOther, type AccountPaths } from "./frame.ts";

/**
 * ACCOUNT_PATH: the member's own page. Their address and who invited them, their recent security activity with its
 * location (a person recognises a country, not an address), their sessions, and the ways out: sign out one session,
 * sign out everywhere, "this wasn't me".
 */

/** The member's own events shown as activity, with what a person calls them. */
const ACTIVITY: Record<string, string> = {
  "account.registered": "Account created",
  "account.login": "Signed in",
  "account.login_failed": "Failed sign-in",
  "account.logout": "Signed out",
  "account.sessions_ended": "Signed out everywhere",
  "account.password_changed": "Password changed",
  "account.password_reset": "Password reset with a reset link",
  "account.disabled": "Account disabled",
  "account.enabled": "Account enabled again",
  "invite.created": "Invite created",
  "invite.revoked": "Invite revoked",
};

const DONE: Record<string, [FlashKind, string]> = {
  session_ended: ["ok", "That session is signed out."],
  session_gone: ["info", "That session had already ended."],
  password_changed: ["ok", "Your password is changed. Every other session was signed out."],
};

export function locationText(country: string | null, city: string | null, countryName?: string | null): string {
  const name = countryName ?? countryNameOf(country) ?? country;
  if (!name) return "Unknown location";
  return city ? `${city}, ${name}` : name;
}

/** "Firefox on Linux": enough to tell one's own devices apart, without storing or showing more. */
export function browserName(ua: string | null): string {
  if (!ua) return "Unknown browser";
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrome\/|Chromium\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : /curl\//i.test(ua) ? "curl" : "A browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows" : /Mac OS X|Macintosh/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : null;
  return os ? `${browser} on ${os}` : browser;
}

/**
 * Sign-ins from a country this account had not used before (within the audit retention): the ones worth a look.
 * The first country ever seen (registration or first sign-in) is the account's own and is not marked.
 */
export function newCountrySignIns(events: AuditEvent[]): Set<number> {
  const marked = new Set<number>();
  const seen = new Set<string>();
  for (const e of [...events].sort((a, b) => a.at - b.at || a.id - b.id)) {
    if (!e.countryCode || (e.type !== "account.login" && e.type !== "account.registered")) continue;
    if (e.type === "account.login" && seen.size > 0 && !seen.has(e.countryCode)) marked.add(e.id);
    seen.add(e.countryCode);
  }
  return marked;
}

function inviterText(profile: NonNullable<ReturnType<typeof accountProfile>>, host: string): RawHtml | string {
  if (profile.invitedBy) return html`<span class="addr">${profile.invitedBy}@${host}</span>`;
  const creator = profile.inviteCreator;
  if (creator === "cli") return "The server's admins";
  if (creator?.startsWith("api/token/")) return "The server's admins (through an admin tool)";
  if (creator?.startsWith("account/")) return "A member who has left";
  return "Nobody: this account was made outside this site";
}

export function homePages(ctx: AppContext, paths: AccountPaths) {
  const path = paths.base;

  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const signedIn = await requireSignedIn(ctx, request, paths, path);
    if (signedIn instanceof Response) return signedIn;
    const { session, host, csrf } = signedIn;
    const profile = accountProfile(ctx, host.name, session.username);
    if (!profile) return seeOther(path, paths.login, "", clearedSessionCookies()); // deleted meanwhile
    const now = Date.now();
    const showIp = host.showIpToUser;
    const events = queryEvents(ctx, { host: host.name, user: session.username, since: now - ctx.config.audit.expiresAfter, limit: 200 }).filter((e) => Object.hasOwn(ACTIVITY, e.type));
    const marked = newCountrySignIns(events);
    const activity = table({
      caption: `Your own security events of the last ${Math.round(ctx.config.audit.expiresAfter / 86_400_000)} days, newest first. Times are UTC.`,
      head: showIp ? ["When", "What", "Where", "Address"] : ["When", "What", "Where"],
      stack: true,
      rows: events.slice(0, 50).map((e) => {
        const repeats = typeof e.details.repeats === "number" ? ` (${e.details.repeats + 1} times)` : "";
        const where = html`${locationText(e.countryCode, e.city, e.countryName)}${marked.has(e.id) ? html` <span class="pill warn mark">New country</span>` : ""}`;
        const row: (RawHtml | string)[] = [humanTime(e.at), `${ACTIVITY[e.type]}${repeats}`, where];
        if (showIp) row.push(e.ip ?? "-");
        return row;
      }),
      empty: "No activity recorded yet.",
    });
    const sessions = listSessions(ctx, host.name, session.username, now);
    const sessionRows = sessions.map((s: Session) => {
      const action =
        s.id === session.id
          ? html`<span class="pill ok">This browser</span>`
          : postButton({ action: relativePath(path, paths.sessions), csrf, label: "Sign out", fields: { session: String(s.id) }, kind: "ghost-danger", small: true, ariaLabel: `Sign out ${browserName(s.userAgent)}, last used ${humanTime(s.lastSeenAt)}` });
      const row: (RawHtml | string)[] = [browserName(s.userAgent), humanTime(s.createdAt), humanTime(s.lastSeenAt), locationText(s.lastCountry, s.lastCity)];
      if (showIp) row.push(s.lastIp ?? "-");
      row.push(action);
      return row;
    });
    const done = DONE[new URL(request.url).searchParams.get("done") ?? ""];
    const body = html`<span class="pill">My account</span>
<h1><span class="addr">${session.username}@${host.name}</span></h1>
${facts([
  ["Address", html`<span class="addr">${session.username}@${host.name}</span>`],
  ["Member since", humanTime(profile.account.createdAt)],
  ["Invited by", inviterText(profile, host.name)],
  ["People you invited", profile.invitees.length === 0 ? "Nobody yet" : profile.invitees.map((a) => a.username).join(", ")],
])}
<div class="actions"><a class="btn small" href="${relativePath(path, paths.invites)}">My invites</a><a class="btn ghost small" href="${relativePath(path, paths.password)}">Change password</a></div>
<section aria-labelledby="activity-h"><h2 id="activity-h">Recent activity</h2>
${marked.size > 0 ? html`<div class="flash error" role="alert">There was a sign-in from a country this account hadn't used before. If that wasn't you, use “This wasn't me” below.</div>` : ""}
${activity}</section>
<section aria-labelledby="sessions-h"><h2 id="sessions-h">Where you're signed in</h2>
${table({ head: showIp ? ["Browser", "Signed in", "Last used", "Where", "Address", ""] : ["Browser", "Signed in", "Last used", "Where", ""], rows: sessionRows, empty: "No sessions.", stack: true })}
<div class="actions">${postButton({ action: relativePath(path, paths.signOutEverywhere), csrf, label: "Sign out everywhere", kind: "ghost", small: true })}</div></section>
<section aria-labelledby="notme-h"><h2 id="notme-h">Something you don't recognise?</h2>
<p class="muted">If you see a sign-in or a session that wasn't you, sign every other device out now and choose a new password.</p>
<div class="actions">${postButton({ action: relativePath(path, paths.notMe), csrf, label: "This wasn't me", kind: "danger", small: true })}</div></section>
<section aria-labelledby="delete-h"><h2 id="delete-h">Delete my account</h2><p class="muted">Removes your account for good.</p>
<a class="btn ghost danger small" href="${relativePath(path, paths.deleteAccount)}">Delete my account…</a></section>`;
    return accountPage({ ctx, paths, path, title: "My account", body, signedIn, host, notice: done ? { kind: done[0], text: done[1] } : null });
  };

  const endOne = async ({ request }: { request: Request }) => {
    const post = await readSignedInPost(ctx, request, paths, paths.sessions);
    if (post instanceof Response) return post;
    const { session } = post.signedIn;
    const id = Number(post.fields.get("session"));
    const origin = requestOrigin(request, "web", `account/${session.username}@${session.host}`);
    const ended = Number.isSafeInteger(id) && id > 0 && (await endSession(ctx, origin, session.host, session.username, id));
    if (ended && id === session.id) return seeOther(paths.sessions, paths.login, "?done=signed_out", clearedSessionCookies());
    return seeOther(paths.sessions, paths.base, `?done=${ended ? "session_ended" : "session_gone"}`);
  };

  const endEverywhere = async ({ request }: { request: Request }) => {
    const post = await readSignedInPost(ctx, request, paths, paths.signOutEverywhere);
    if (post instanceof Response) return post;
    const { session } = post.signedIn;
    await endAllSessions(ctx, requestOrigin(request, "web", `account/${session.username}@${session.host}`), session.host, session.username, "sign_out_everywhere");
    return seeOther(paths.signOutEverywhere, paths.login, "?done=signed_out_everywhere", clearedSessionCookies());
  };

  /** "This wasn't me": every other session ends now, then the member chooses a new password. */
  const notMe = async ({ request }: { request: Request }) => {
    const post = await readSignedInPost(ctx, request, paths, paths.notMe);
    if (post instanceof Response) return post;
    const { session } = post.signedIn;
    await endAllSessions(ctx, requestOrigin(request, "web", `account/${session.username}@${session.host}`), session.host, session.username, "not_me", session.id);
    return seeOther(paths.notMe, paths.password, "?reason=not_me");
  };

  return new Elysia({ name: "account-home" })
    .get(path, show)
    .post(paths.sessions, endOne, { parse: "none" })
    .post(paths.signOutEverywhere, endEverywhere, { parse: "none" })
    .post(paths.notMe, notMe, { parse: "none" });
}
