import { createHash } from "node:crypto";
import { extname } from "node:path";
import { html, type RawHtml } from "../lib/html.ts";
import { BUILTIN_LOGOS, LOGO_TYPES } from "./logos.ts";
import { APP_PLATFORMS, type ClientApp } from "../config/index.ts";
import type { Lang, Messages } from "../i18n/index.ts";

export const PLATFORMS = APP_PLATFORMS;
export type Platform = (typeof PLATFORMS)[number];

/** Platform names: trade names stay as they are; the two that are words come from the catalog. */
export function platformName(platform: Platform, m: Messages): string {
  switch (platform) {
    case "ios":
      return m.text("platform_ios");
    case "web":
      return m.text("platform_web");
    case "android":
      return "Android";
    case "linux":
      return "Linux";
    case "windows":
      return "Windows";
    case "macos":
      return "macOS";
  }
}

// F-Droid's site names its translations with underscores (pt_BR, zh_Hans).
const FDROID_PREFIX = /^https:\/\/f-droid\.org\/(?:[a-z]{2}(?:_[A-Za-z]+)?\/)?packages\//;

/**
 * A store's page in the reader's language where the store has one: F-Droid by path, Google Play by `hl`. Other
 * links (an app's own site, the App Store, whose path is a country) are left as they are.
 */
export function localizedStoreUrl(url: string, lang: Lang): string {
  const tag: string = lang;
  if (tag === "en") return url;
  if (FDROID_PREFIX.test(url)) return url.replace(FDROID_PREFIX, `https://f-droid.org/${tag.replace("-", "_")}/packages/`);
  if (url.startsWith("https://play.google.com/")) {
    try {
      const u = new URL(url);
      u.searchParams.set("hl", tag);
      return u.href;
    } catch {
      return url;
    }
  }
  return url;
}

/** The built-in list when a host configures no [[apps]]: maintained XMPP clients that support invites. */
export const DEFAULT_APPS: ClientApp[] = [
  { name: "Conversations", platforms: ["android"], url: "https://conversations.im/", logo: "conversations" },
  { name: "Cheogram", platforms: ["android"], url: "https://cheogram.com/", logo: "cheogram" },
  { name: "Monocles Chat", platforms: ["android"], url: "https://f-droid.org/packages/de.monocles.chat/", logo: "monocles" },
  { name: "Monal", platforms: ["ios", "macos"], url: "https://monal-im.org/", logo: "monal" },
  { name: "Siskin IM", platforms: ["ios"], url: "https://siskin.im/", logo: "siskin" },
  { name: "Dino", platforms: ["linux"], url: "https://dino.im/", logo: "dino" },
  { name: "Gajim", platforms: ["linux", "windows"], url: "https://gajim.org/", logo: "gajim" },
  { name: "Beagle IM", platforms: ["macos"], url: "https://beagle.im/", logo: "beagle" },
];

/** The platform a User-Agent most likely runs on, to open that section of the app list first. */
export function platformFromUserAgent(ua: string | null): Platform | null {
  if (!ua) return null;
  if (/Android/i.test(ua)) return "android";
  if (/iPhone|iPad|iPod/i.test(ua)) return "ios";
  if (/Windows/i.test(ua)) return "windows";
  if (/Macintosh|Mac OS X/i.test(ua)) return "macos";
  if (/Linux|X11|CrOS/i.test(ua)) return "linux";
  return null;
}

/** URL path (below /assets/) of an app's logo: a built-in badge by name, or a configured file by a hash of its path. */
export function logoAsset(logo: string | undefined): string | null {
  if (!logo) return null;
  if (Object.hasOwn(BUILTIN_LOGOS, logo)) return `logos/${logo}.svg`;
  const ext = extname(logo).slice(1).toLowerCase();
  if (!logo.startsWith("/") || !Object.hasOwn(LOGO_TYPES, ext)) return null;
  return `logos/custom/${createHash("sha256").update(logo).digest("hex").slice(0, 20)}.${ext}`;
}

/**
 * The app list, one collapsible section per platform (works without JavaScript). The visitor's platform, guessed
 * from the User-Agent, comes first and open; when it cannot be guessed every section is open.
 */
export function renderAppList(apps: ClientApp[], assetsBase: string, userAgent: string | null, m: Messages): RawHtml {
  // The list depends only on the host's apps, the language, the guessed platform and the assets path, and it is
  // most of a landing page's markup: each variant is rendered once and kept with the apps and the language.
  const mine = platformFromUserAgent(userAgent);
  let byLang = renderedLists.get(apps);
  if (!byLang) renderedLists.set(apps, (byLang = new WeakMap()));
  let variants = byLang.get(m);
  if (!variants) byLang.set(m, (variants = new Map()));
  const id = `${mine}\u0000${assetsBase}`;
  let list = variants.get(id);
  if (!list) {
    list = drawAppList(apps, assetsBase, mine, m);
    if (variants.size >= 64) variants.clear(); // assets paths are a host's few page paths; bounded anyway
    variants.set(id, list);
  }
  return list;
}
const renderedLists = new WeakMap<ClientApp[], WeakMap<Messages, Map<string, RawHtml>>>();

function drawAppList(apps: ClientApp[], assetsBase: string, mine: Platform | null, m: Messages): RawHtml {
  const order = [...PLATFORMS].sort((a, b) => Number(b === mine) - Number(a === mine));
  const sections = order
    .map((platform) => ({ platform, apps: apps.filter((a) => a.platforms.map((p) => p.toLowerCase()).includes(platform)) }))
    .filter((s) => s.apps.length > 0);
  const item = (app: ClientApp) => {
    const logo = logoAsset(app.logo);
    const platforms = app.platforms.map((p) => ((PLATFORMS as readonly string[]).includes(p) ? platformName(p as Platform, m) : p)).join(" · ");
    return html`<li><a class="app" href="${localizedStoreUrl(app.url, m.lang)}" rel="noopener noreferrer" target="_blank">${
      logo ? html`<img src="${assetsBase}${logo}" alt="" width="44" height="44" loading="lazy">` : html`<span class="mono" aria-hidden="true">${[...app.name][0]?.toUpperCase() ?? "?"}</span>`
    }<span class="name">${app.name}${platforms ? html`<small>${platforms}</small>` : ""}</span><span class="get"><span class="label">${m.text("apps_get")} </span>${m.dir === "rtl" ? "‹" : "›"}</span></a></li>`;
  };
  const open = (p: Platform) => mine === null || p === mine;
  return html`<div class="platforms">${sections.map(
    (s) => html`<details class="platform"${open(s.platform) ? html` open` : ""}><summary>${platformName(s.platform, m)}<small>${m.text("apps_count", { count: s.apps.length })}</small></summary><ul class="apps">${s.apps.map(item)}</ul></details>`,
  )}</div>`;
}
