import { createHash } from "node:crypto";
import { escapeHtml, html, raw, type RawHtml } from "../lib/html.ts";
import { languageName, type Lang, type PageLanguage } from "../i18n/index.ts";
import { pathOf } from "../lib/url.ts";
import type { HostConfig } from "../config/index.ts";

/**
 * The one stylesheet every page carries inline. The CSP allows exactly this text (by hash), so the pages need no
 * file from anywhere and no other inline style or script can run.
 */
export const STYLE = `
:root{--bg:#f3f4f9;--card:#fff;--text:#161a27;--muted:#5b6275;--line:#e2e5ee;--soft:#f6f7fb;--accent:#4f46e5;--accent-ink:#fff;--accent-soft:#eef0ff;--danger:#b42318;--danger-soft:#fef3f2;--ok:#067647;--ok-soft:#ecfdf3;--warn:#b54708;--warn-soft:#fffaeb;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0d0f16;--card:#171a24;--text:#e9ebf3;--muted:#9ba2b6;--line:#2a2f3d;--soft:#1e2230;--accent:#8e8cf8;--accent-ink:#0d0f16;--accent-soft:#252852;--danger:#f97066;--danger-soft:#2e1513;--ok:#47cd89;--ok-soft:#0d2a1b;--warn:#fdb022;--warn-soft:#2e2210}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;min-height:100vh;background:var(--bg);color:var(--text);font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",Ubuntu,Cantarell,"Helvetica Neue",Arial,sans-serif;padding:20px 14px 32px}
.wrap{max-width:46rem;margin:0 auto}
.wrap.narrow{max-width:30rem}
.brand{display:flex;align-items:center;gap:10px;margin:4px 6px 18px;color:var(--muted);font-weight:650;letter-spacing:.01em;overflow-wrap:anywhere}
.brand img{width:30px;height:30px;flex:none}
.card{background:var(--card);border:1px solid var(--line);border-radius:20px;padding:26px 22px;box-shadow:0 1px 2px rgba(16,24,40,.05),0 18px 40px -18px rgba(16,24,40,.18)}
@media (min-width:640px){body{padding:48px 24px}.card{padding:36px 40px}}
h1{font-size:1.65rem;line-height:1.25;margin:10px 0 10px;letter-spacing:-.01em;overflow-wrap:anywhere}
h2{font-size:1.08rem;line-height:1.35;margin:0 0 6px}
p{margin:0 0 12px}
a{color:var(--accent)}
.lead{color:var(--muted);font-size:1.04rem;margin-bottom:6px}
.muted{color:var(--muted)}
.small{font-size:.9rem}
.addr{font-weight:700;color:var(--text);overflow-wrap:anywhere}
.pill{display:inline-block;background:var(--accent-soft);color:var(--accent);border-radius:999px;padding:3px 12px;font-size:.8rem;font-weight:700;letter-spacing:.04em;text-transform:uppercase}
.pill.warn{background:var(--warn-soft);color:var(--warn)}
.pill.ok{background:var(--ok-soft);color:var(--ok)}
.pill.bad{background:var(--danger-soft);color:var(--danger)}
.facts{display:flex;flex-wrap:wrap;gap:8px 18px;margin:14px 0 0;padding:0;list-style:none;color:var(--muted);font-size:.92rem}
.facts li::before{content:"•";margin-inline-end:8px;color:var(--line)}
.facts li:first-child::before{content:none}
.btn{display:flex;align-items:center;justify-content:center;gap:8px;width:100%;min-height:50px;padding:12px 20px;border-radius:14px;border:1.5px solid transparent;background:var(--accent);color:var(--accent-ink);font:inherit;font-weight:650;text-decoration:none;cursor:pointer;text-align:center}
.btn:hover{filter:brightness(1.07)}
.btn:focus-visible,input:focus-visible,summary:focus-visible,.app:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.btn.ghost{background:transparent;color:var(--accent);border-color:var(--line)}
.layout{display:grid;gap:26px;margin-top:24px}
@media (min-width:720px){.layout{grid-template-columns:1fr 15rem;align-items:start}}
.steps{list-style:none;margin:0;padding:0;counter-reset:step}
.steps>li{position:relative;padding:0;padding-inline-start:46px;padding-bottom:22px}
.steps>li:last-child{padding-bottom:0}
.steps>li::before{counter-increment:step;content:counter(step);position:absolute;inset-inline-start:0;top:-2px;width:32px;height:32px;border-radius:50%;background:var(--accent-soft);color:var(--accent);font-weight:750;display:flex;align-items:center;justify-content:center}
.steps>li::after{content:"";position:absolute;inset-inline-start:15px;top:36px;bottom:6px;width:2px;background:var(--line)}
.steps>li:last-child::after{content:none}
.steps p{color:var(--muted)}
.qr{background:var(--soft);border:1px solid var(--line);border-radius:16px;padding:16px;text-align:center}
.qr svg{display:block;width:100%;max-width:13rem;height:auto;margin:0 auto 10px;border-radius:8px}
.qr p{margin:0;font-size:.88rem;color:var(--muted)}
.platform{border:1px solid var(--line);border-radius:14px;margin:0 0 10px;background:var(--card)}
.platform summary{cursor:pointer;list-style:none;display:flex;align-items:center;justify-content:space-between;gap:10px;padding:12px 16px;font-weight:650}
.platform summary::-webkit-details-marker{display:none}
.platform summary::after{content:"";width:8px;height:8px;border-right:2px solid var(--muted);border-bottom:2px solid var(--muted);transform:rotate(45deg);margin:-4px 0 0;margin-inline-end:4px;flex:none}
.platform[open] summary::after{transform:rotate(-135deg);margin-top:4px}
.platform summary small{color:var(--muted);font-weight:500;margin-inline-start:auto}
.apps{list-style:none;margin:0;padding:0 8px 8px}
.app{display:flex;align-items:center;gap:14px;padding:10px 8px;border-radius:12px;text-decoration:none;color:var(--text)}
.app:hover{background:var(--soft)}
.app img,.app .mono{width:44px;height:44px;border-radius:11px;flex:none}
.app .mono{display:flex;align-items:center;justify-content:center;background:var(--accent-soft);color:var(--accent);font-weight:800;font-size:1.2rem}
.app .name{flex:1;min-width:0;font-weight:650;overflow-wrap:break-word}
.app .name small{display:block;color:var(--muted);font-weight:450;font-size:.85rem}
.app .get{color:var(--accent);font-weight:650;font-size:.92rem;white-space:nowrap}
@media (max-width:420px){.app .get .label{display:none}.app .get{font-size:1.3rem}.steps>li{padding-inline-start:40px}.qr svg{max-width:11rem}.card{padding:22px 18px}}
.uri{display:block;margin-top:10px;font:.8rem/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted);overflow-wrap:anywhere;word-break:break-all}
.divider{display:flex;align-items:center;gap:12px;color:var(--muted);font-size:.85rem;margin:14px 0}
.divider::before,.divider::after{content:"";flex:1;height:1px;background:var(--line)}
form{margin-top:22px}
label{display:block;font-weight:650;margin:0 0 6px}
.field{margin-bottom:18px}
.hint{color:var(--muted);font-size:.86rem;margin-top:6px}
.inputs{display:flex;align-items:stretch;border:1.5px solid var(--line);border-radius:12px;background:var(--card);overflow:hidden}
.inputs:focus-within{border-color:var(--accent);box-shadow:0 0 0 3px var(--accent-soft)}
.inputs input{flex:1;min-width:0;border:0;outline:0;background:transparent;color:var(--text);font:inherit;padding:12px 14px}
.inputs input[readonly]{color:var(--muted)}
.inputs .suffix{display:flex;align-items:center;padding:0 14px;background:var(--soft);color:var(--muted);border-inline-start:1px solid var(--line);max-width:55%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.alert{border-radius:12px;padding:12px 14px;margin:18px 0 0;background:var(--danger-soft);color:var(--danger);font-weight:550;overflow-wrap:anywhere}
.success-mark,.status-mark{width:56px;height:56px;border-radius:50%;display:flex;align-items:center;justify-content:center;margin-bottom:6px}
.success-mark{background:var(--ok-soft);color:var(--ok)}
.status-mark{background:var(--danger-soft);color:var(--danger)}
.success-mark svg,.status-mark svg{width:28px;height:28px}
.big-addr{display:block;margin:16px 0 18px;padding:14px 16px;border-radius:12px;background:var(--soft);border:1px dashed var(--line);font:600 1.15rem/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere;text-align:center}
.more{margin-top:22px}
.nested{padding:0 12px 2px}
footer{max-width:46rem;margin:20px auto 0;padding:0 8px;text-align:center;color:var(--muted);font-size:.84rem}
.langs{max-width:46rem;margin:18px auto 0;padding:0 8px;font-size:.84rem}
.langs ul{list-style:none;display:flex;flex-wrap:wrap;justify-content:center;gap:4px 14px;margin:0;padding:0}
.langs a{color:var(--muted);text-decoration:none}
.langs a:hover{text-decoration:underline}
.langs [aria-current]{color:var(--text);font-weight:650}
:lang(ja) h1,:lang(ja) h2{word-break:auto-phrase}
.topnav{display:flex;flex-wrap:wrap;align-items:center;gap:6px 4px;margin:0 0 14px;padding:0 4px}
.topnav a{padding:8px 12px;border-radius:10px;color:var(--muted);font-weight:600;text-decoration:none}
.topnav a:hover{background:var(--card)}
.topnav a[aria-current=page]{background:var(--card);color:var(--text);box-shadow:0 1px 2px rgba(16,24,40,.06)}
.topnav form{margin:0;margin-inline-start:auto}
.topnav .who{color:var(--muted);font-size:.9rem;padding:0 8px;overflow-wrap:anywhere}
.field-error{color:var(--danger);font-size:.9rem;font-weight:550;margin-top:6px}
.inputs:has([aria-invalid=true]){border-color:var(--danger)}
.flash{border-radius:12px;padding:12px 14px;margin:0 0 18px;font-weight:550;overflow-wrap:anywhere}
.flash.ok{background:var(--ok-soft);color:var(--ok)}
.flash.error{background:var(--danger-soft);color:var(--danger)}
.flash.info{background:var(--accent-soft);color:var(--accent)}
section{margin-top:30px}
section>h2{font-size:1.15rem;margin-bottom:10px}
.table-wrap{overflow-x:auto;margin:0 -4px;padding:0 4px}
table.list{width:100%;border-collapse:collapse;font-size:.93rem}
table.list caption{text-align:start;color:var(--muted);font-size:.86rem;padding-bottom:6px}
table.list th{text-align:start;color:var(--muted);font-weight:650;font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;padding:8px 10px;border-bottom:1px solid var(--line)}
table.list td{padding:10px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}
table.list tr:last-child td{border-bottom:0}
table.list td form{margin:0}
.btn.small{display:inline-flex;width:auto;min-height:36px;padding:6px 14px;border-radius:10px;font-size:.9rem}
.btn.danger{background:var(--danger);color:#fff}
.btn.ghost.danger{background:transparent;color:var(--danger);border-color:var(--line)}
.actions{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}
.actions form{margin:0}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:12px 0 0}
.kv dt{color:var(--muted)}
.kv dd{margin:0;overflow-wrap:anywhere}
.mark{display:inline-block;margin-inline-start:6px}
td .pill{white-space:nowrap}
.note{display:block;color:var(--muted);font-size:.86rem}
@media (max-width:560px){.topnav{gap:4px 0}.topnav a{padding:8px 9px}.topnav .who{display:none}}
.wrap.wide{max-width:76rem}
.stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(9rem,1fr));gap:12px;margin:18px 0 0}
.stat{background:var(--soft);border:1px solid var(--line);border-radius:14px;padding:12px 14px}
.stat b{display:block;font-size:1.6rem;line-height:1.2}
.stat span{color:var(--muted);font-size:.86rem}
.stat.bad b{color:var(--danger)}
.chart svg,.map svg{display:block;width:100%;height:auto}
.chart .bar{fill:var(--accent)}
.chart .axis,.chart text{fill:var(--muted);font-size:11px}
.map .land{fill:var(--line);stroke:var(--card);stroke-width:.5}
.map .hit{fill:var(--accent);stroke:var(--card);stroke-width:.5}
.map .sea{fill:var(--soft)}
.split{display:grid;gap:22px}
@media (min-width:900px){.split{grid-template-columns:1fr 20rem;align-items:start}}
.filters{display:flex;flex-wrap:wrap;gap:10px 12px;align-items:flex-end;margin-top:14px}
.filters .field{margin:0;flex:1 1 9rem;min-width:8rem}
.filters .btn{width:auto;min-height:46px}
select{font:inherit;color:var(--text);background:var(--card);border:1.5px solid var(--line);border-radius:12px;padding:11px 12px;width:100%}
.check{display:flex;gap:8px;align-items:center;font-weight:500;margin:0 0 14px}
.check input{width:18px;height:18px}
.grid2{display:grid;gap:0 16px}
@media (min-width:720px){.grid2{grid-template-columns:1fr 1fr}}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em;overflow-wrap:anywhere}
td .actions{margin-top:0;gap:6px}
button[data-copy]{margin:0 0 12px}
.tree{list-style:none;padding-left:14px;border-left:2px solid var(--line);margin:6px 0}
@media (max-width:560px){table.list.stack thead{display:none}table.list.stack tr{display:block;padding:10px 0;border-bottom:1px solid var(--line)}table.list.stack tr:last-child{border-bottom:0}table.list.stack td{display:block;border:0;padding:3px 0}table.list.stack td[data-label]::before{content:attr(data-label) ": ";color:var(--muted);font-size:.85rem}.kv{grid-template-columns:1fr}.kv dd{margin-bottom:6px}}
`.trim();

const STYLE_HASH = createHash("sha256").update(STYLE).digest("base64");

/** Strict: only our own stylesheet (by hash), images from this origin, forms posting back to this origin. */
export const CONTENT_SECURITY_POLICY = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;

/**
 * Security headers of every page. Pages with a form pass `{ "Referrer-Policy": "same-origin" }` (see formPageHeaders):
 * with no-referrer a browser's POST says `Origin: null`, and the form's Origin check would refuse it.
 */
export function pageHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    ...extra,
  };
}

/**
 * The router also matches `PATH/`, where a page's relative links would resolve one level too deep (`/invite/register`).
 * Sends the browser to PATH itself instead: 308 keeps the method, the form body and the query.
 */
export function trailingSlashRedirect(request: Request, path: string): Response | null {
  const url = request.url;
  if (path === "/" || !pathOf(url).endsWith("/")) return null;
  const q = url.indexOf("?");
  const last = path.slice(path.lastIndexOf("/") + 1);
  return new Response(null, { status: 308, headers: { Location: `../${last}${q < 0 ? "" : url.slice(q)}`, "Cache-Control": "no-store" } });
}

/**
 * A URL path relative to the page at `from`, so links keep working behind a reverse proxy that mounts invited under
 * a prefix. Always starts with "./" or "../" so no segment can be read as a scheme.
 */
export function relativePath(from: string, to: string): string {
  const fromDir = from.split("/").slice(1, -1);
  const target = to.split("/").slice(1);
  let common = 0;
  while (common < fromDir.length && common < target.length - 1 && fromDir[common] === target[common]) common++;
  const up = fromDir.length - common;
  const rest = target.slice(common).join("/");
  return (up === 0 ? "./" : "../".repeat(up)) + rest;
}

/** Headers of a page that holds a form: its POST then carries a real Origin for the CSRF check. */
export function formPageHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return pageHeaders({ "Referrer-Policy": "same-origin", ...extra });
}

export interface PageOptions {
  title: string;
  /** The path the page is served at (for relative asset links). */
  path: string;
  brand: string | null;
  body: RawHtml;
  narrow?: boolean;
  footer?: RawHtml | string | null;
  language: PageLanguage;
  /**
   * The picker's links are `${languageQuery}lang=xx` ("?TOKEN&", "?t=TOKEN&"); no picker without it (a page
   * answering a POST).
   */
  languageQuery?: string | null;
  /** A navigation bar above the card (the account pages). */
  nav?: RawHtml | null;
  /** A wider page (the admin console's tables). */
  wide?: boolean;
  /** Same-origin script files (relative URLs), loaded deferred; the page must send a CSP allowing script-src 'self'. */
  scripts?: string[];
  /** The host's own name, contact and policies, when the page belongs to a host. */
  site?: SiteInfo | null;
}

export type SiteInfo = Pick<HostConfig, "siteName" | "contact" | "termsUrl" | "privacyUrl">;

/** "Questions? Ask …", terms and privacy links: the host's settings, in the page's language. */
function siteLinks(site: SiteInfo | null | undefined, language: PageLanguage): RawHtml | "" {
  if (!site || (!site.contact && !site.termsUrl && !site.privacyUrl)) return "";
  const { m } = language;
  // The whole sentence is the link when the contact is a URL, so no language needs markup inside its message.
  const shown = site.contact?.replace(/^(mailto|xmpp):/i, "") ?? "";
  const contact = site.contact
    ? /^(https?|mailto|xmpp):/i.test(site.contact)
      ? html`<a href="${site.contact}">${m.html("site_contact", { contact: shown })}</a>`
      : m.html("site_contact", { contact: shown })
    : null;
  const parts = [
    contact,
    site.termsUrl ? html`<a href="${site.termsUrl}">${m.html("site_terms")}</a>` : null,
    site.privacyUrl ? html`<a href="${site.privacyUrl}">${m.html("site_privacy")}</a>` : null,
  ].filter((p) => p !== null);
  return html`<footer class="site">${parts.map((p, i) => html`${i > 0 ? raw(" · ") : ""}${p}`)}</footer>`;
}

/**
 * Links to this page in each offered language, each named in its own language. The same for every page of a site
 * but for the query in front of `lang=`, so it is drawn once per language and offer and the query is put in.
 */
function languagePicker(language: PageLanguage, query: string): string {
  if (language.offered.length < 2) return "";
  const id = `${language.lang}\u0000${language.m.text("language_picker")}\u0000${language.offered.join(",")}`;
  let parts = pickers.get(id);
  if (!parts) {
    const item = (l: Lang) =>
      l === language.lang
        ? html`<li><span aria-current="true" lang="${l}">${languageName(l)}</span></li>`
        : html`<li><a href="${raw(QUERY_MARK)}lang=${l}" hreflang="${l}" lang="${l}">${languageName(l)}</a></li>`;
    parts = html`<nav class="langs" aria-label="${language.m.text("language_picker")}"><ul>${language.offered.map(item)}</ul></nav>`.value.split(QUERY_MARK);
    if (pickers.size >= 1000) pickers.clear();
    pickers.set(id, parts);
  }
  return parts.join(escapeHtml(query));
}
const pickers = new Map<string, string[]>();
const QUERY_MARK = "\u0000";

export function renderPage(o: PageOptions): string {
  const assets = relativePath(o.path, "/assets/");
  const { lang, dir } = o.language;
  return html`<!doctype html>
<html lang="${lang}" dir="${dir}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="color-scheme" content="light dark">
<title>${o.title}</title>
<link rel="icon" href="${assets}invited.svg" type="image/svg+xml">
<style>${raw(STYLE)}</style>
${(o.scripts ?? []).map((src) => html`<script src="${src}" defer></script>`)}
</head>
<body>
<div class="wrap${o.narrow ? " narrow" : ""}${o.wide ? " wide" : ""}">
${o.brand ? html`<div class="brand"><img src="${assets}invited.svg" alt="" width="30" height="30"><bdi>${o.site?.siteName ?? o.brand}</bdi></div>` : ""}
${o.nav ?? ""}
<main class="card">
${o.body}
</main>
${o.footer ? html`<footer>${o.footer}</footer>` : ""}
${siteLinks(o.site, o.language)}
${o.languageQuery ? raw(languagePicker(o.language, o.languageQuery)) : ""}
</div>
</body>
</html>
`.value;
}

export const ICON_CHECK = raw(`<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M5 12.5l4.5 4.5L19 7.5"/></svg>`);
export const ICON_CROSS = raw(`<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.6" stroke-linecap="round" aria-hidden="true"><path d="M7 7l10 10M17 7L7 17"/></svg>`);
export const ICON_CLOCK = raw(`<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" aria-hidden="true"><circle cx="12" cy="12" r="8.5"/><path d="M12 7.5V12l3 2"/></svg>`);
