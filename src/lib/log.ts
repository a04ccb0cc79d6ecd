/** Line-oriented logger. Request lines go to stdout, warnings and errors to stderr (journald keeps both). */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const SECRET_NAMES = ["key", "t", "token"];
// A name as it may appear in a URL: each letter plain or percent-encoded (`%6Bey=` is `key=` to URLSearchParams).
const encodedName = (name: string) =>
  [...name].map((c) => `(?:${c}|%${c.charCodeAt(0).toString(16)}|%${c.toUpperCase().charCodeAt(0).toString(16)})`).join("");
const SECRET_PARAM = new RegExp(`([?&;](?:${SECRET_NAMES.map(encodedName).join("|")})=)[^&;#\\s]*`, "gi");

/** Removes the value of every `key=`, `t=` and `token=` parameter so API keys and invite tokens never reach a log. */
export function redactKeys(text: string): string {
  return text.replace(SECRET_PARAM, "$1[redacted]");
}

// A bare query part that is a flag such as `?redirect`, not a token (tokens mix cases and digits).
const FLAG = /^[a-z_]{1,16}$/;

/**
 * For a request-log path. Parameters are judged by their decoded name, as the handlers read them, so no spelling of
 * `key=`, `t=` or `token=` keeps its value. A bare query part (`/invite?TOKEN`) is redacted on every path, not only on
 * the landing page's: `/invite/?TOKEN` and mistyped paths carry a token just the same. The query is cut at `?` and
 * `#` too, not only `&` and `;`: URLSearchParams drops a leading `?` (`??key=` is `key`), and a raw `#` ends the
 * token a page reads. Redacting too much is harmless; the old pattern runs last as a backstop.
 */
export function redactPath(path: string): string {
  const q = path.indexOf("?");
  if (q < 0) return path.includes("=") ? redactKeys(path) : path; // no query: usually nothing to do (most API calls)
  const parts = path.slice(q + 1).split(/([&;?#])/); // separators kept at the odd indexes
  for (let i = 0; i < parts.length; i += 2) {
    const part = parts[i]!;
    const eq = part.indexOf("=");
    if (eq < 0) {
      if (part !== "" && !FLAG.test(part)) parts[i] = "[redacted]";
    } else if (SECRET_NAMES.includes(decodeName(part.slice(0, eq)))) {
      parts[i] = `${part.slice(0, eq)}=[redacted]`;
    }
  }
  return redactKeys(`${path.slice(0, q)}?${parts.join("")}`);
}

/** Percent-decodes a parameter name the lenient way URLSearchParams does (an invalid escape stays as it is). */
function decodeName(raw: string): string {
  return raw.replace(/\+/g, " ").replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))).toLowerCase();
}

export function createLogger(): Logger {
  const stamp = () => new Date().toISOString();
  return {
    info: (m) => process.stdout.write(`${stamp()} ${redactKeys(m)}\n`),
    warn: (m) => process.stderr.write(`${stamp()} warn: ${redactKeys(m)}\n`),
    error: (m) => process.stderr.write(`${stamp()} error: ${redactKeys(m)}\n`),
  };
}
