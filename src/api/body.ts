import { ApiError } from "./errors.ts";

/**
 * Request bodies of /api/v1, read by us instead of Elysia's JSON parser, so nothing reaches JSON.parse or the schema
 * validators that could stall the process: a JSON body nested 50,000 deep cost 10-15 s of a blocked event loop, GiBs
 * of memory and then a stack overflow in the validator's error message. The order is cheap to costly:
 *
 *   1. media type: only `application/json` (any case, optional parameters; a charset other than UTF-8 is refused);
 *      a body without Content-Type is refused too, except an empty one, which is "no body" and means `{}`;
 *   2. the bytes are read (Bun refuses more than server.max_body_size with 413 before or while reading);
 *   3. nesting depth, counted on the raw bytes in one linear pass, before anything is parsed;
 *   4. UTF-8 (malformed bytes are refused, not replaced), then JSON.parse.
 * These run before the key is checked (Elysia parses before it derives), so anonymous junk costs no more than that.
 * After the key, requireJsonObject refuses what is not an object, a key sent twice in one object, and any `__proto__`
 * key (JSON.parse makes it an own property, which the schema validators let through); then the route's schema
 * validates.
 */

/** Deepest nesting of arrays and objects accepted: `{}` is 1, `{"a":[]}` is 2. */
export const MAX_JSON_DEPTH = 32;

const BRACE_OPEN = 0x7b;
const BRACE_CLOSE = 0x7d;
const BRACKET_OPEN = 0x5b;
const BRACKET_CLOSE = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * True when the JSON text nests arrays/objects deeper than `max`. Brackets inside strings do not count (escapes
 * honoured). Linear, no allocation, stops at the first level too deep. It does not validate: JSON.parse does that next,
 * and a text whose brackets do not balance fails there at the first stray one, before any deeper nesting.
 */
export function exceedsJsonDepth(bytes: Uint8Array, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0, n = bytes.length; i < n; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === BACKSLASH) i++; // the escaped byte cannot end the string (UTF-8 continuation bytes are never ASCII)
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === BRACE_OPEN || c === BRACKET_OPEN) {
      if (++depth > max) return true;
    } else if (c === BRACE_CLOSE || c === BRACKET_CLOSE) depth--;
  }
  return false;
}

/**
 * Where a `__proto__` key sits in a parsed value ("__proto__", "groups.0.__proto__"), or null. The path is built only
 * once one is found, so a wide body costs one pass and no strings. Recursion is safe: only values that passed the
 * depth check get here.
 */
export function protoKeyPath(value: unknown): string | null {
  const path: (string | number)[] = [];
  const walk = (v: object): boolean => {
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (item !== null && typeof item === "object" && walk(item)) {
          path.push(i);
          return true;
        }
      }
      return false;
    }
    if (Object.hasOwn(v, "__proto__")) {
      path.push("__proto__");
      return true;
    }
    for (const k in v) {
      const item: unknown = (v as Record<string, unknown>)[k];
      if (item !== null && typeof item === "object" && walk(item)) {
        path.push(k);
        return true;
      }
    }
    return false;
  };
  return value !== null && typeof value === "object" && walk(value) ? path.reverse().join(".") : null;
}

const COMMA = 0x2c;

/**
 * The first key that an object of a valid JSON text has twice, as a path ("kind", "groups.0.a"), or null. JSON.parse
 * keeps the last silently, so a proxy or a log that reads the first would see another request than invited does.
 * One pass; the sets of keys hold no more than the text.
 */
export function duplicateKeyPath(text: string): string | null {
  // One frame per open array or object: an object's keys so far, and where in it the scan is (key or index).
  const stack: { keys: Set<string> | null; at: string | number }[] = [];
  let expectKey = false;
  for (let i = 0, n = text.length; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      for (i++; i < n && text.charCodeAt(i) !== QUOTE; i++) if (text.charCodeAt(i) === BACKSLASH) i++;
      if (!expectKey) continue;
      expectKey = false;
      const raw = text.slice(start + 1, i);
      const key: string = raw.includes("\\") ? JSON.parse(`"${raw}"`) : raw;
      const top = stack[stack.length - 1]!;
      if (top.keys!.has(key)) return [...stack.slice(0, -1).map((f) => f.at), key].join(".");
      top.keys!.add(key);
      top.at = key;
    } else if (c === BRACE_OPEN) {
      stack.push({ keys: new Set(), at: "" });
      expectKey = true;
    } else if (c === BRACKET_OPEN) stack.push({ keys: null, at: 0 });
    else if (c === BRACE_CLOSE || c === BRACKET_CLOSE) {
      stack.pop();
      expectKey = false;
    } else if (c === COMMA) {
      const top = stack[stack.length - 1]!;
      if (top.keys) expectKey = true;
      else top.at = (top.at as number) + 1;
    }
  }
  return null;
}

/** The text each parsed body came from, for requireJsonObject's checks once the key has been verified. */
const bodyTexts = new WeakMap<object, string>();

/** Why a Content-Type is not one the API reads, or null for `application/json` (with UTF-8 or no charset). */
export function mediaTypeProblem(contentType: string): string | null {
  const [type, ...params] = contentType.split(";");
  if (type!.trim().toLowerCase() !== "application/json") return "send the body as application/json";
  for (const param of params) {
    const eq = param.indexOf("=");
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== "charset") continue;
    const charset = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, "$1")
      .toLowerCase();
    if (charset !== "utf-8" && charset !== "utf8") return "send the body as UTF-8 (application/json; charset=utf-8, or no charset)";
  }
  return null;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The `parse` hook of every /api/v1 route with a body. Always returns a value or throws an ApiError (Elysia wraps it
 * in a ParseError whose cause the API's error handler unwraps), so Elysia's own parsers never run.
 */
export async function parseJsonBody({ request }: { request: Request }): Promise<unknown> {
  const contentType = request.headers.get("content-type")?.trim() || null;
  if (contentType !== null) {
    const problem = mediaTypeProblem(contentType);
    if (problem) throw new ApiError("unsupported_media_type", problem);
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await request.arrayBuffer());
  } catch {
    throw new ApiError("invalid_request", "the request body could not be read"); // Bun has answered 413 if it was too large
  }
  if (contentType === null) {
    if (bytes.length === 0) return {}; // no body at all: the defaults, as `{}`
    throw new ApiError("unsupported_media_type", "send the body as application/json (the Content-Type header is missing)");
  }
  if (exceedsJsonDepth(bytes)) throw new ApiError("too_deep", `the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ApiError("invalid_json", "the body is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError("invalid_json", "the body is not valid JSON (send {} for all defaults)");
  }
  if (value !== null && typeof value === "object") bodyTexts.set(value, text);
  return value;
}

/**
 * The `transform` of every route with a body: after the key is checked (as the schemas are), before validation, which
 * would quietly turn `[]`, `null` or `5` into `{}` for an all-optional schema and lets a `__proto__` key through.
 */
export function requireJsonObject({ body }: { body: unknown }): void {
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw new ApiError("invalid_request", "the body must be a JSON object ({} for all defaults)");
  const text = bodyTexts.get(body);
  const duplicate = text === undefined ? null : duplicateKeyPath(text);
  if (duplicate !== null) throw new ApiError("invalid_request", `the body field '${duplicate.slice(0, 200)}' is sent more than once`);
  const proto = protoKeyPath(body);
  if (proto) throw new ApiError("invalid_request", `invalid body field '${proto.slice(0, 200)}': Unexpected property`);
}
