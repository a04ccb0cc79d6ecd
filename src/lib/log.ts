/** Line-oriented logger. Request lines go to stdout, warnings and errors to stderr (journald keeps both). */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const SECRET_PARAM = /([?&;](?:key|t|token)=)[^&;#\s]*/gi;

/** Removes the value of every `key=`, `t=` and `token=` parameter so API keys and invite tokens never reach a log. */
export function redactKeys(text: string): string {
  return text.replace(SECRET_PARAM, "$1[redacted]");
}

/** For a request-log path: redacts secret parameters, and the whole query on paths whose query is a token. */
export function redactPath(path: string, tokenPaths: ReadonlySet<string>): string {
  const q = path.indexOf("?");
  if (q < 0 && !path.includes("=")) return path; // no query and no parameter: skip the regex (most API calls)
  if (q >= 0 && tokenPaths.has(path.slice(0, q))) return `${path.slice(0, q)}?[redacted]`;
  return redactKeys(path);
}

export function createLogger(): Logger {
  const stamp = () => new Date().toISOString();
  return {
    info: (m) => process.stdout.write(`${stamp()} ${redactKeys(m)}\n`),
    warn: (m) => process.stderr.write(`${stamp()} warn: ${redactKeys(m)}\n`),
    error: (m) => process.stderr.write(`${stamp()} error: ${redactKeys(m)}\n`),
  };
}
