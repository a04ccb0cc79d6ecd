import type { AppContext } from "../context.ts";
import { onePer } from "../lib/memo.ts";

/**
 * A logger for storage errors that writes the first one at once and then at most one line per interval with the
 * number left out, so a full or read-only disk under load does not flood the journal.
 */
export function storageErrorLogger(log: { error(message: string): void }, intervalMs = 10_000): (e: unknown) => void {
  let lastAt = -Infinity;
  let suppressed = 0;
  return (e) => {
    const now = performance.now();
    if (now - lastAt < intervalMs) {
      suppressed++;
      return;
    }
    const more = suppressed > 0 ? ` (${suppressed} similar error(s) not logged in the last ${Math.round((now - lastAt) / 1000)}s)` : "";
    lastAt = now;
    suppressed = 0;
    log.error(`storage unavailable, answering 503: ${(e as Error)?.message ?? String(e)}${more}`);
  };
}

/** The server's one throttled storage-error log, shared by the root app and /api/v1 so the throttle covers both. */
export const logStorageError = onePer((ctx: AppContext) => storageErrorLogger(ctx.log));
