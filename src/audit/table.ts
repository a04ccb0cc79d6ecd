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
  /** Narrowest width the column is squeezed to before giving up on the total. */
  min: number;
}

const GAP = "  ";

/**
 * The viewer's table: Date, Source, Event, User, IP, Location, newest first. It is laid out to fit `width` columns
 * (80 unless the terminal is wider): first locations shrink to the country code, then the widest of Event, User
 * and IP give up a column at a time; cut cells end in "…".
 */
export function renderTable(events: AuditEvent[], width = 80): string[] {
  const cols: Column[] = [
    { title: "Date", cells: events.map((e) => [tableDate(e.at)]), min: 19 },
    { title: "Source", cells: events.map((e) => [e.source]), min: 6 },
    { title: "Event", cells: events.map((e) => [e.type]), min: 12 },
    { title: "User", cells: events.map((e) => [e.user]), min: 6 },
    { title: "IP", cells: events.map((e) => [e.ip ?? ""]), min: 9 },
    {
      title: "Location",
      cells: events.map((e) => (e.countryCode ? (e.countryName ? [`${e.countryCode} ${e.countryName}`, e.countryCode] : [e.countryCode]) : [""])),
      min: 8,
    },
  ];
  for (const c of cols) c.cells = c.cells.map((variants) => variants.map(sanitizeCell));
  const variant = cols.map(() => 0);
  const natural = (i: number) => {
    const c = cols[i]!;
    let w = Bun.stringWidth(c.title);
    for (const v of c.cells) w = Math.max(w, Bun.stringWidth(v[Math.min(variant[i]!, v.length - 1)]!));
    return w;
  };
  const widths = cols.map((_, i) => natural(i));
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP.length * (cols.length - 1);
  // 1. Locations as country codes.
  if (total() > width) {
    variant[5] = 1;
    widths[5] = natural(5);
  }
  // 2. Squeeze the widest of Event, User, IP (then Source, Location) one column at a time.
  const squeezable = [2, 3, 4, 1, 5];
  while (total() > width) {
    let pick = -1;
    for (const i of squeezable) if (widths[i]! > cols[i]!.min && (pick < 0 || widths[i]! > widths[pick]!)) pick = i;
    if (pick < 0) break; // a terminal narrower than the minimum: print anyway
    widths[pick]!--;
  }
  const line = (texts: string[]) =>
    texts
      .map((t, i) => (i === texts.length - 1 ? truncateCell(t, widths[i]!) : pad(truncateCell(t, widths[i]!), widths[i]!)))
      .join(GAP)
      .trimEnd();
  const out = [line(cols.map((c) => c.title)), "-".repeat(Math.min(total(), width))];
  for (let r = 0; r < events.length; r++) {
    out.push(line(cols.map((c, i) => c.cells[r]![Math.min(variant[i]!, c.cells[r]!.length - 1)]!)));
  }
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
