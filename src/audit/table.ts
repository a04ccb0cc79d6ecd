import type { AuditEvent } from "./service.ts";

/** Terminal control characters and bidi overrides are shown as "?" so a stored value cannot rewrite the screen. */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function sanitizeCell(text: string): string {
  return text.replace(UNSAFE, "?");
}

/** Cuts `text` to at most `width` terminal columns, marking the cut with "…". */
export function truncateCell(text: string, width: number): string {
  if (Bun.stringWidth(text) <= width) return text;
  if (width <= 0) return "";
  let out = "";
  let used = 0;
  for (const ch of text) {
    const w = Bun.stringWidth(ch);
    if (used + w > width - 1) break;
    out += ch;
    used += w;
  }
  return out + "…";
}

function pad(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - Bun.stringWidth(text)));
}

/** "2025-01-31 23:59:07" in UTC, the width Prosody's viewer uses. */
export function tableDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace("T", " ");
}

interface Column {
  title: string;
  /** Per row: the preferred text, then shorter fallbacks tried before truncating. */
  cells: string[][];
}

const SOURCE = 1, EVENT = 2, USER = 3, IP = 4, LOCATION = 5;
/** Squeezing order: user and IP first (the widest of the two at a time), then the event name, then anything. */
const SQUEEZE: Record<number, number>[] = [
  { [USER]: 8, [IP]: 11 },
  { [EVENT]: 14 },
  { [USER]: 4, [IP]: 7, [EVENT]: 8, [LOCATION]: 2, [SOURCE]: 3 },
];

/**
 * The viewer's table: Date, Source, Event, User, IP, Location, newest first. It is laid out to fit `width` columns
 * (80 unless the terminal is wider): locations shrink to the country code, the gaps between columns to one space, then
 * user and IP give up columns, then the event name; cut cells end in "…".
 */
export function renderTable(events: AuditEvent[], width = 80): string[] {
  const cols: Column[] = [
    { title: "Date", cells: events.map((e) => [tableDate(e.at)]) },
    { title: "Source", cells: events.map((e) => [e.source]) },
    { title: "Event", cells: events.map((e) => [e.type]) },
    { title: "User", cells: events.map((e) => [e.user]) },
    { title: "IP", cells: events.map((e) => [e.ip ?? ""]) },
    {
      title: "Location",
      cells: events.map((e) => (e.countryCode ? (e.countryName ? [`${e.countryCode} ${e.countryName}`, e.countryCode] : [e.countryCode]) : [""])),
    },
  ];
  for (const c of cols) c.cells = c.cells.map((variants) => variants.map(sanitizeCell));
  const variant = cols.map(() => 0);
  const cell = (i: number, r: number) => {
    const v = cols[i]!.cells[r]!;
    return v[Math.min(variant[i]!, v.length - 1)]!;
  };
  const natural = (i: number) => {
    let w = Bun.stringWidth(cols[i]!.title);
    for (let r = 0; r < events.length; r++) w = Math.max(w, Bun.stringWidth(cell(i, r)));
    return w;
  };
  const widths = cols.map((_, i) => natural(i));
  let gap = "  ";
  const total = () => widths.reduce((a, b) => a + b, 0) + gap.length * (cols.length - 1);
  if (total() > width) {
    variant[LOCATION] = 1;
    widths[LOCATION] = natural(LOCATION);
  }
  if (total() > width) gap = " ";
  for (const mins of SQUEEZE) {
    while (total() > width) {
      let pick = -1;
      for (const [k, min] of Object.entries(mins)) {
        const i = Number(k);
        if (widths[i]! > min && (pick < 0 || widths[i]! > widths[pick]!)) pick = i;
      }
      if (pick < 0) break;
      widths[pick]!--;
    }
  }
  const line = (texts: string[]) =>
    texts
      .map((t, i) => (i === texts.length - 1 ? truncateCell(t, widths[i]!) : pad(truncateCell(t, widths[i]!), widths[i]!)))
      .join(gap)
      .trimEnd();
  const out = [line(cols.map((c) => c.title)), "-".repeat(Math.min(total(), width))];
  for (let r = 0; r < events.length; r++) out.push(line(cols.map((_, i) => cell(i, r))));
  return out;
}

/** One event as a JSON object for `--json` (one per line). Empty host/user (server- or host-wide) become null. */
export function eventJson(e: AuditEvent): Record<string, unknown> {
  return {
    id: e.id,
    time: new Date(e.at).toISOString(),
    host: e.host || null,
    user: e.user || null,
    source: e.source,
    type: e.type,
    actor: e.actor,
    ip: e.ip,
    location: e.countryCode ? { country_code: e.countryCode, country_name: e.countryName, continent: e.continent } : null,
    user_agent: e.userAgent,
    details: e.details,
  };
}
