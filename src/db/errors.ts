// Storage errors are classified here, where the storage is; the HTTP layers map the class to a status (503).

/** Errors that mean "the store cannot take writes right now" (busy, read-only, disk full, file gone): 503, not 500. */
export function isStorageUnavailable(e: unknown): boolean {
  const code = (e as { code?: string } | null)?.code ?? "";
  const msg = String((e as Error | null)?.message ?? "");
  return (
    /^SQLITE_(BUSY|LOCKED|READONLY|FULL|IOERR|CANTOPEN|CORRUPT|NOTADB|PROTOCOL)/.test(code) ||
    /database is locked|readonly database|disk is full|disk I\/O error|unable to open database|database disk image is malformed/i.test(msg)
  );
}
