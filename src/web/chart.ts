import { html, type RawHtml } from "../lib/html.ts";

/**
 * A bar chart as inline SVG, drawn on the server (no script, allowed by the pages' CSP: colours come from the
 * stylesheet's classes). Knows no feature: labelled bars in, a picture named for screen readers out.
 */
export interface Bar {
  label: string;
  value: number;
}

export function barChart(o: { bars: Bar[]; label: string; width?: number; height?: number; everyNthLabel?: number }): RawHtml {
  const width = o.width ?? 720;
  const height = o.height ?? 200;
  const top = 14;
  const bottom = 24;
  const left = 30;
  const max = Math.max(1, ...o.bars.map((b) => b.value));
  const step = (width - left) / Math.max(1, o.bars.length);
  const plot = height - top - bottom;
  const nth = o.everyNthLabel ?? Math.max(1, Math.ceil(o.bars.length / 8));
  const bars = o.bars.map((b, i) => {
    const h = Math.round((b.value / max) * plot);
    const x = left + i * step;
    return html`<g><title>${b.label}: ${b.value}</title><rect class="bar" x="${(x + step * 0.15).toFixed(1)}" y="${top + plot - h}" width="${(step * 0.7).toFixed(1)}" height="${Math.max(h, b.value > 0 ? 1 : 0)}" rx="2"></rect>${
      i % nth === 0 ? html`<text x="${(x + step / 2).toFixed(1)}" y="${height - 6}" text-anchor="middle">${b.label}</text>` : ""
    }</g>`;
  });
  return html`<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${o.label}" xmlns="http://www.w3.org/2000/svg">
<text x="0" y="${top + 4}">${max}</text><text x="0" y="${top + plot}">0</text>
<line class="axis" x1="${left}" y1="${top + plot + 0.5}" x2="${width}" y2="${top + plot + 0.5}" stroke="currentColor" stroke-opacity=".25"></line>
${bars}</svg>`;
}
