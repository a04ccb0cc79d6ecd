// Every page a person can see, fetched over real HTTP in one language: the landing page in each of its shapes, the
// dead-link pages, the registration form, each refusal, the success pages and the problem pages.
import { cli, get, sandbox, startServer, type Sandbox, type TestServer } from "./helpers.ts";
import { createInvite, makeAccount, postForm } from "./invite-helpers.ts";
import { Browser } from "./account-helpers.ts";

export interface RenderedPage {
  name: string;
  status: number;
  headers: Headers;
  body: string;
}

export const PASSWORD = "correct horse battery";

let runs = 0;

/** Invites and accounts the pages need, made once per sandbox (a page run consumes only the invites it registers with). */
export interface PageFixtures {
  unknown: string;
  used: string;
  revoked: string;
  expired: string;
  reset: string;
  bound: string;
}

export async function makeFixtures(sb: Sandbox, server: TestServer): Promise<PageFixtures> {
  const used = await createInvite(sb);
  const r = await postForm(server, { token: used.token, user: "usedup", password: PASSWORD });
  if (r.status !== 200) throw new Error(`registration failed: ${r.status}`);
  const revoked = await createInvite(sb);
  if ((await cli(["invite", "revoke", "example.com", revoked.id], { config: sb.config })).code !== 0) throw new Error("revoke failed");
  const expired = await createInvite(sb, ["--ttl", "1s"]);
  await makeAccount(sb, server, "dora");
  const reset = await createInvite(sb, ["--reset", "dora"]);
  const bound = await createInvite(sb, ["--username", "carol"]);
  await Bun.sleep(1100); // the 1s invite runs out
  return { unknown: "nosuchtoken", used: used.token, revoked: revoked.token, expired: expired.token, reset: reset.token, bound: bound.token };
}

async function fetchPage(name: string, url: string, init: RequestInit = {}): Promise<RenderedPage> {
  const r = await get(url, { redirect: "manual", ...init });
  return { name, status: r.status, headers: r.headers, body: await r.text() };
}

function post(server: TestServer, lang: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<RenderedPage> {
  return postForm(server, fields, headers, `/register?lang=${lang}`).then(async (r) => ({ name: "", status: r.status, headers: r.headers, body: await r.text() }));
}

/** Every page in `lang` (chosen by `?lang=`), each with the status it must have. */
export async function renderAllPages(sb: Sandbox, server: TestServer, fx: PageFixtures, lang: string): Promise<{ page: RenderedPage; expect: number }[]> {
  const u = server.url;
  const out: { page: RenderedPage; expect: number }[] = [];
  const add = (expect: number, name: string, page: RenderedPage) => out.push({ page: { ...page, name }, expect });
  const fresh = await createInvite(sb);
  const multi = await createInvite(sb, ["--uses", "3"]);
  const unlimited = await createInvite(sb, ["--unlimited"]);
  const forRefusals = await createInvite(sb, ["--uses", "20"]);

  add(200, "landing", await fetchPage("", `${u}/invite?${fresh.token}&lang=${lang}`));
  add(200, "landing, 3 uses", await fetchPage("", `${u}/invite?${multi.token}&lang=${lang}`));
  add(200, "landing, unlimited", await fetchPage("", `${u}/invite?${unlimited.token}&lang=${lang}`));
  add(200, "landing, bound", await fetchPage("", `${u}/invite?${fx.bound}&lang=${lang}`));
  add(200, "landing, reset", await fetchPage("", `${u}/invite?${fx.reset}&lang=${lang}`));
  for (const dead of ["unknown", "used", "revoked", "expired"] as const) {
    add(dead === "unknown" ? 404 : 410, `dead link, ${dead}`, await fetchPage("", `${u}/invite?${fx[dead]}&lang=${lang}`));
  }
  add(200, "form", await fetchPage("", `${u}/register?t=${fresh.token}&lang=${lang}`));
  add(200, "form, bound", await fetchPage("", `${u}/register?t=${fx.bound}&lang=${lang}`));
  add(200, "form, reset", await fetchPage("", `${u}/register?t=${fx.reset}&lang=${lang}`));

  const token = forRefusals.token;
  const refusals: [string, number, Record<string, string>][] = [
    ["missing username", 400, { token, password: PASSWORD }],
    ["missing password", 400, { token, user: "someone" }],
    ["invalid username", 400, { token, user: "a b", password: PASSWORD }],
    ["username too long", 400, { token, user: "x".repeat(80), password: PASSWORD }],
    ["username too short", 400, { token, user: "q", password: PASSWORD }],
    ["username invisible", 400, { token, user: "zero\u200bwidth", password: PASSWORD }],
    ["username not canonical", 400, { token, user: "\u{1D41B}\u{1D428}\u{1D41B}", password: PASSWORD }],
    ["username mixed scripts", 400, { token, user: "p\u0430ypal", password: PASSWORD }],
    ["username reserved", 400, { token, user: "admin", password: PASSWORD }],
    ["username taken", 409, { token, user: "dora", password: PASSWORD }],
    ["password too short", 400, { token, user: "someone", password: "short" }],
    ["password too long", 400, { token, user: "someone", password: "p".repeat(1100) }],
    ["password contains username", 400, { token, user: "someone", password: "xxsomeonexx" }],
    ["password control character", 400, { token, user: "someone", password: "correct\u0001horse battery" }],
    ["passwords differ", 400, { token, user: "someone", password: PASSWORD, password_confirm: "other horse battery" }],
    ["bound invite, other username", 403, { token: fx.bound, user: "mallory", password: PASSWORD }],
  ];
  for (const [name, status, fields] of refusals) add(status, `refusal: ${name}`, await post(server, lang, fields));

  add(403, "problem: cross-site", await post(server, lang, { token, user: "x", password: PASSWORD }, { Origin: "https://evil.example" }));
  add(400, "problem: repeated field", await fetchPage("", `${u}/register?lang=${lang}`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "user=a&user=b" }));
  add(415, "problem: encoding", await fetchPage("", `${u}/register?lang=${lang}`, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "user=a" }));
  add(413, "problem: too large", await fetchPage("", `${u}/register?lang=${lang}`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "user=" + "a".repeat(100_000) }));

  // The sign-in page (it belongs to the only host), a failed sign-in, its notices and its problem pages.
  add(200, "sign-in", await fetchPage("", `${u}/account/login?lang=${lang}`));
  add(200, "sign-in, signed out", await fetchPage("", `${u}/account/login?done=signed_out&lang=${lang}`));
  // Its own client address and name per run: sign-in failures are throttled per address and per account.
  const runId = ++runs;
  const browser = new Browser(server, "https://example.com", `198.51.100.${runId}`);
  await browser.get(`/account/login?lang=${lang}`);
  add(401, "sign-in, wrong password", await browser.post(`/account/login?lang=${lang}`, { user: `nobody${runId}`, password: "wrong horse battery" }).then((p) => ({ name: "", status: p.status, headers: p.headers, body: p.text })));
  add(403, "sign-in, form expired", await browser.post(`/account/login?lang=${lang}`, { user: "dora", password: PASSWORD }, { csrf: "nope" }).then((p) => ({ name: "", status: p.status, headers: p.headers, body: p.text })));
  add(403, "sign-in, cross-site", await browser.post(`/account/login?lang=${lang}`, { user: "dora", password: PASSWORD }, { origin: "https://evil.example" }).then((p) => ({ name: "", status: p.status, headers: p.headers, body: p.text })));

  // The signed-in member's pages, their refusals and notices.
  // A member of their own per run: sign-ins and wrong passwords are throttled per account.
  const memberName = `member${runId}`;
  await makeAccount(sb, server, memberName);
  const member = new Browser(server, "https://example.com", `198.51.101.${runId}`);
  await member.get(`/account/login?lang=${lang}`);
  const signedIn = await member.post(`/account/login?lang=${lang}`, { user: memberName, password: PASSWORD });
  if (signedIn.status !== 303) throw new Error(`sign-in as ${memberName}: ${signedIn.status}`);
  const page = (p: { status: number; headers: Headers; text: string }) => ({ name: "", status: p.status, headers: p.headers, body: p.text });
  add(200, "my account", page(await member.get(`/account?lang=${lang}`)));
  add(200, "my account, session ended", page(await member.get(`/account?done=session_ended&lang=${lang}`)));
  add(200, "my invites", page(await member.get(`/account/invites?lang=${lang}`)));
  add(404, "my invites, not mine", page(await member.post(`/account/invites/revoke?lang=${lang}`, { invite: "000000000000" })));
  add(200, "change password", page(await member.get(`/account/password?lang=${lang}`)));
  add(200, "change password, not me", page(await member.get(`/account/password?reason=not_me&lang=${lang}`)));
  add(403, "change password, wrong current", page(await member.post(`/account/password?lang=${lang}`, { current: "wrong horse battery", password: "a brand new password", password_confirm: "a brand new password" })));
  await member.get(`/account/password?lang=${lang}`);
  add(400, "change password, too short", page(await member.post(`/account/password?lang=${lang}`, { current: PASSWORD, password: "short", password_confirm: "short" })));
  add(200, "delete account", page(await member.get(`/account/delete?lang=${lang}`)));
  add(403, "delete account, wrong password", page(await member.post(`/account/delete?lang=${lang}`, { password: "wrong horse battery" })));
  add(403, "account form expired", page(await member.post(`/account/sessions?lang=${lang}`, { session: "1" }, { csrf: "nope" })));
  add(403, "account form from another site", page(await member.post(`/account/sessions?lang=${lang}`, { session: "1" }, { origin: "https://evil.example" })));

  const name = `u${lang.toLowerCase().replace(/[^a-z]/g, "")}${Math.floor(Math.random() * 1e6)}`;
  add(200, "success", await post(server, lang, { token: fresh.token, user: name, password: PASSWORD }));
  return out;
}

/** The throttled page needs a sandbox with a throttle: one registration per hour, the second is refused. */
export async function renderThrottled(lang: string, extra = ""): Promise<RenderedPage> {
  const sb = sandbox(`[limits]\nregistration_rate = "1/hour"\n${extra}`);
  const server = await startServer(sb);
  try {
    const invite = await createInvite(sb, ["--uses", "5"]);
    const first = await postForm(server, { token: invite.token, user: "first", password: PASSWORD });
    if (first.status !== 200) throw new Error(`first registration: ${first.status}`);
    const r = await postForm(server, { token: invite.token, user: "second", password: PASSWORD }, {}, `/register?lang=${lang}`);
    return { name: "problem: throttled", status: r.status, headers: r.headers, body: await r.text() };
  } finally {
    await server.stop();
    sb.cleanup();
  }
}

/**
 * The text a person reads on a page: text nodes and the attributes a browser shows or speaks (title, alt,
 * aria-label, placeholder), with entities decoded. Style and SVG are not text.
 */
export function visibleTexts(html: string): string[] {
  const texts: string[] = [];
  const doc = html.replace(/<style[\s\S]*?<\/style>/g, "").replace(/<svg[\s\S]*?<\/svg>/g, (svg) => {
    const label = /aria-label="([^"]*)"/.exec(svg);
    if (label) texts.push(decode(label[1]!));
    return " ";
  });
  for (const m of doc.matchAll(/\s(?:title|alt|aria-label|placeholder)="([^"]*)"/g)) texts.push(decode(m[1]!));
  for (const m of doc.replace(/<!doctype[^>]*>/i, "").matchAll(/>([^<]+)</g)) {
    const t = decode(m[1]!).trim();
    if (t) texts.push(t);
  }
  return texts;
}

function decode(s: string): string {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
}
