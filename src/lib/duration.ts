const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const MAX_DURATION_MS = 36_500 * 86_400_000;

/**
 * Parses "90s", "15m", "24h", "7d", "2w" or a combination like "1d12h" into milliseconds. Returns null if invalid,
 * over 100 years (36500d), or zero unless `allowZero` (for callers that refuse a zero lifetime with their own error).
 */
export function parseDuration(input: string, { allowZero = false } = {}): number | null {
  const s = input.trim();
  if (s === "" || s.length > 32) return null;
  const re = /(\d+)\s*(ms|min|s|m|h|d|w)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  // Beyond 100 years a lifetime is a typo, and dates that far out stop being printable.
  if (matched !== s.length || total < (allowZero ? 0 : 1) || total > MAX_DURATION_MS) return null;
  return total;
}

/** Short human form of a duration in ms, e.g. 7d, 36h, 90m, 45s. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
