import { Elysia } from "elysia";
import { geoEqualEarth, geoPath } from "d3-geo";
import { feature } from "topojson-client";
import type { Topology, GeometryCollection } from "topojson-specification";
import type { Feature, Geometry } from "geojson";
import world from "world-atlas/countries-110m.json" with { type: "json" };
import { countries } from "countries-list";
import type { AppContext } from "../context.ts";
import { html, raw, type RawHtml } from "../lib/html.ts";
import { relativePath, trailingSlashRedirect } from "../web/layout.ts";
import { table } from "../web/parts.ts";
import { AUDIT_TYPES, countEventsByCountry } from "../audit/service.ts";
import { countryName, consolePage, params, requireAdmin, select, type ConsolePaths } from "./frame.ts";

/**
 * ADMIN_PATH/map: audit events by country over a window, as a world map drawn on the server (world-atlas 1:110m
 * outlines through d3-geo's Equal Earth projection) with the same numbers in a table. No script.
 */

const WIDTH = 960;
const HEIGHT = 470;
const WINDOWS: Record<string, number> = { "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000, "90d": 90 * 86_400_000, "365d": 365 * 86_400_000 };

// world-atlas names its shapes in English (Natural Earth); the audit log has ISO codes. Most names match
// countries-list's; these are the short forms Natural Earth uses.
const ALIASES: Record<string, string> = {
  "W. Sahara": "EH", "United States of America": "US", "Dem. Rep. Congo": "CD", "Dominican Rep.": "DO", "Falkland Is.": "FK",
  "Fr. S. Antarctic Lands": "TF", "Timor-Leste": "TL", "Côte d'Ivoire": "CI", "Central African Rep.": "CF", Congo: "CG",
  "Eq. Guinea": "GQ", Turkey: "TR", "Solomon Is.": "SB", "Bosnia and Herz.": "BA", Macedonia: "MK", "S. Sudan": "SS",
};

/** Each country's outline as an SVG path, projected once per process (the outlines never change). */
let drawnShapes: ReturnType<typeof drawShapes> | null = null;
const shapes = () => (drawnShapes ??= drawShapes());

function drawShapes() {
  const byName = new Map(Object.entries(countries as Record<string, { name: string }>).map(([code, c]) => [c.name.toLowerCase(), code]));
  const topo = world as unknown as Topology<{ countries: GeometryCollection<{ name: string }> }>;
  const fc = feature(topo, topo.objects.countries) as unknown as { features: Feature<Geometry, { name: string }>[] };
  const projection = geoEqualEarth().fitSize([WIDTH, HEIGHT], { type: "Sphere" } as never);
  const path = geoPath(projection);
  const sphere = path({ type: "Sphere" } as never) ?? "";
  return {
    sphere,
    countries: fc.features.map((f) => ({
      code: ALIASES[f.properties.name] ?? byName.get(f.properties.name.toLowerCase()) ?? null,
      name: f.properties.name,
      d: path(f) ?? "",
    })),
  };
}

const TYPE_VALUES: [string, string][] = [
  ...[...new Set(AUDIT_TYPES.map((t) => `${t.split(".")[0]}.*`))].map((f): [string, string] => [f, f]),
  ...AUDIT_TYPES.map((t): [string, string] => [t, t]),
];

export function mapPage(ctx: AppContext, paths: ConsolePaths) {
  const path = paths.map;
  const show = async ({ request }: { request: Request }) => {
    const canonical = trailingSlashRedirect(request, path);
    if (canonical) return canonical;
    const admin = await requireAdmin(ctx, request, paths, path);
    if (admin instanceof Response) return admin;
    const M = admin.T;
    const q = params(request);
    const win = Object.hasOwn(WINDOWS, q.get("window") ?? "") ? q.get("window")! : "30d";
    const type = TYPE_VALUES.some(([v]) => v === q.get("type")) ? q.get("type")! : "";
    const rows = countEventsByCountry(ctx, admin.host.name, WINDOWS[win]!, type || null);
    const counts = new Map(rows.filter((r) => r.code).map((r) => [r.code!, r.n]));
    const total = rows.reduce((n, r) => n + r.n, 0);
    const max = Math.max(1, ...counts.values());
    const drawn = shapes();
    const paths_ = drawn.countries.map((c) => {
      const n = c.code ? counts.get(c.code) ?? 0 : 0;
      const label = `${c.code ? countryName(admin, c.code) : c.name}: ${n}`;
      // Log scale, so one busy country does not wash out the rest.
      return n > 0
        ? raw(`<path class="hit" fill-opacity="${(0.2 + 0.8 * (Math.log1p(n) / Math.log1p(max))).toFixed(2)}" d="${c.d}"><title>${escapeText(label)}</title></path>`)
        : raw(`<path class="land" d="${c.d}"><title>${escapeText(label)}</title></path>`);
    });
    const svg = html`<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${M.map.mapLabel(total, counts.size)}" xmlns="http://www.w3.org/2000/svg"><path class="sea" d="${drawn.sphere}"></path>${paths_}</svg>`;
    const tableRows = rows.map((r): (RawHtml | string)[] => [
      r.code ? html`<a href="${relativePath(path, paths.audit)}?country=${r.code}${type ? `&type=${encodeURIComponent(type)}` : ""}">${countryName(admin, r.code)}</a> <span class="muted small">${r.code}</span>` : M.map.unknown,
      String(r.n),
    ]);
    const body = html`<h1>${M.map.title}</h1>
<form method="get" action="${relativePath(path, path)}" class="filters">
${select({ id: "window", name: "window", label: M.map.window, value: win, options: Object.keys(WINDOWS).map((w): [string, string] => [w, w]) })}
${select({ id: "type", name: "type", label: M.map.type, value: type, options: [["", M.map.anyType], ...TYPE_VALUES] })}
<button class="btn ghost" type="submit">${M.common.filter}</button></form>
<div class="split"><div class="map">${svg}</div><div>${table({ head: [M.map.country, M.map.events], rows: tableRows, empty: M.map.empty })}</div></div>`;
    return consolePage({ paths, path, title: M.map.title, body, admin, language: admin.language });
  };
  return new Elysia({ name: "console-map" }).get(path, show);
}

function escapeText(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
