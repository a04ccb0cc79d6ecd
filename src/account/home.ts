import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { requestOrigin } from "../http/request-info.ts";
import { html, type RawHtml } from "../lib/html.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { facts, postButton, table, type FlashKind } from "../web/parts.ts";
import { languagesOf } from "../web/language.ts";
import type { MessageKey, Messages } from "../i18n/index.ts";
import { queryEvents, type AuditEvent } from "../audit/service.ts";
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
const ACTIVITY: Record<string, MessageKey> = {
  "account.registered": "activity_registered",
  "account.login": "activity_login",
  "account.login_failed": "activity_login_failed",
  "account.logout": "activity_logout",
  "account.sessions_ended": "activity_sessions_ended",
  "account.password_changed": "activity_password_changed",
  "account.password_reset": "activity_password_reset",
  "account.disabled": "activity_disabled",
  "account.enabled": "activity_enabled",
  "invite.created": "activity_invite_created",
  "invite.revoked": "activity_invite_revoked",
};

const DONE: Record<string, [FlashKind, MessageKey]> = {
  session_ended: ["ok", "home_done_session_ended"],
  session_gone: ["info", "home_done_session_gone"],
  password_changed: ["ok", "home_done_password_changed"],
};

/** "Berlin, Germany": the country named in the page's language (Intl.DisplayNames), the city as the GeoIP data has it. */
export function locationText(m: Messages, country: string | null, city: string | null, countryName?: string | null): string {
  const name = (country ? m.country(country) : null) ?? countryName ?? country;
  if (!name) return m.text("location_unknown");
  return city ? m.text("location_city", { city, country: name }) : name;
}

/** "Firefox on Linux": enough to tell one's own devices apart, without storing or showing more. Browser and OS names stay. */
export function browserName(m: Messages, ua: string | null): string {
  if (!ua) return m.text("browser_unknown");
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrome\/|Chromium\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : /curl\//i.test(ua) ? "curl" : null;
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows" : /Mac OS X|Macintosh/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : null;
  const name = browser ?? m.text("browser_generic");
  return os ? m.text("browser_on", { browser: name, os }) : name;
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

function inviterText(m: Messages, profile: NonNullable<ReturnType<typeof accountProfile>>, host: string): RawHtml | string {
  if (profile.invitedBy) return html`<bdi class="addr">${profile.invitedBy}@${host}</bdi>`;
  const creator = profile.inviteCreator;
  if (creator === "cli") return m.html("inviter_admins");
  if (creator?.startsWith("api/token/")) return m.html("inviter_admin_tool");
  if (creator?.startsWith("account/")) return m.html("inviter_left");
  return m.html("inviter_nobody");
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
    const language = languagesOf(ctx, host).choose(request);
    const { m } = language;
    const when = (ms: number) => m.dateTime(ms);
    const activity = table({
      caption: m.text("home_activity_caption", { days: Math.round(ctx.config.audit.expiresAfter / 86_400_000) }),
      head: showIp ? [m.text("col_when"), m.text("col_what"), m.text("col_where"), m.text("col_address")] : [m.text("col_when"), m.text("col_what"), m.text("col_where")],
      stack: true,
      rows: events.slice(0, 50).map((e) => {
        const what = m.text(ACTIVITY[e.type]!);
        const label = typeof e.details.repeats === "number" ? m.text("activity_repeats", { what, count: e.details.repeats + 1 }) : what;
        const where = html`${locationText(m, e.countryCode, e.city, e.countryName)}${marked.has(e.id) ? html` <span class="pill warn mark">${m.html("home_new_country")}</span>` : ""}`;
        const row: (RawHtml | string)[] = [when(e.at), label, where];
        if (showIp) row.push(e.ip ?? "-");
        return row;
      }),
      empty: m.text("home_no_activity"),
    });
    const sessions = listSessions(ctx, host.name, session.username, now);
    const sessionRows = sessions.map((s: Session) => {
      const browser = browserName(m, s.userAgent);
      const action =
        s.id === session.id
          ? html`<span class="pill ok">${m.html("home_this_browser")}</span>`
          : postButton({ action: relativePath(path, paths.sessions), csrf, label: m.text("account_sign_out"), fields: { session: String(s.id) }, kind: "ghost-danger", small: true, ariaLabel: m.text("home_sign_out_session", { browser, when: when(s.lastSeenAt) }) });
      const row: (RawHtml | string)[] = [browser, when(s.createdAt), when(s.lastSeenAt), locationText(m, s.lastCountry, s.lastCity)];
      if (showIp) row.push(s.lastIp ?? "-");
      row.push(action);
      return row;
    });
    const done = DONE[new URL(request.url).searchParams.get("done") ?? ""];
    const address = `${session.username}@${host.name}`;
    const sessionHead = [m.text("col_browser"), m.text("col_signed_in"), m.text("col_last_used"), m.text("col_where"), ...(showIp ? [m.text("col_address")] : []), ""];
    const body = html`<span class="pill">${m.html("account_nav_home")}</span>
<h1><bdi class="addr">${address}</bdi></h1>
${facts([
  [m.text("home_fact_address"), html`<bdi class="addr">${address}</bdi>`],
  [m.text("home_fact_member_since"), when(profile.account.createdAt)],
  [m.text("home_fact_invited_by"), inviterText(m, profile, host.name)],
  [m.text("home_fact_invitees"), profile.invitees.length === 0 ? m.text("account_nobody_yet") : profile.invitees.map((a) => a.username).join(", ")],
])}
<div class="actions"><a class="btn small" href="${relativePath(path, paths.invites)}">${m.html("account_nav_invites")}</a><a class="btn ghost small" href="${relativePath(path, paths.password)}">${m.html("home_change_password")}</a></div>
<section aria-labelledby="activity-h"><h2 id="activity-h">${m.html("home_activity")}</h2>
${marked.size > 0 ? html`<div class="flash error" role="alert">${m.html("home_new_country_alert")}</div>` : ""}
${activity}</section>
<section aria-labelledby="sessions-h"><h2 id="sessions-h">${m.html("home_sessions")}</h2>
${table({ head: sessionHead, rows: sessionRows, empty: m.text("home_no_sessions"), stack: true })}
<div class="actions">${postButton({ action: relativePath(path, paths.signOutEverywhere), csrf, label: m.text("home_sign_out_everywhere"), kind: "ghost", small: true })}</div></section>
<section aria-labelledby="notme-h"><h2 id="notme-h">${m.html("home_not_me_title")}</h2>
<p class="muted">${m.html("home_not_me_text")}</p>
<div class="actions">${postButton({ action: relativePath(path, paths.notMe), csrf, label: m.text("home_not_me_button"), kind: "danger", small: true })}</div></section>
<section aria-labelledby="delete-h"><h2 id="delete-h">${m.html("home_delete_title")}</h2><p class="muted">${m.html("home_delete_text")}</p>
<a class="btn ghost danger small" href="${relativePath(path, paths.deleteAccount)}">${m.html("home_delete_link")}</a></section>`;
    return accountPage({ ctx, paths, path, title: m.text("account_nav_home"), body, signedIn, host, notice: done ? { kind: done[0], text: m.html(done[1]) } : null, language, languageQuery: "?" });
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
