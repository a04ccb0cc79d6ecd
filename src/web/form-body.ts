/** Reading an HTML form body ourselves: bounded, strict about its shape, and every failure is a 4xx, never a 500. */

/** What was wrong with a form body, for the page that says so (in the reader's language). */
export type FormProblem = "too_large" | "unreadable" | "content_type" | "malformed" | "file_upload" | "too_many_fields" | "repeated_field";

export class FormError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    readonly problem: FormProblem,
    message: string,
    /** The repeated field's name (cut to 32 characters), for "repeated_field". */
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

export const FORM_BODY_LIMIT = 64 * 1024;
const MAX_FIELDS = 32;

/** Reads at most `limit` bytes of the body; more is a 413 (the rest is not read). */
async function readBounded(request: Request, limit: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && (!/^\d{1,15}$/.test(declared.trim()) || Number(declared) > limit)) {
    const number = /^\d+$/.test(declared.trim());
    throw new FormError(number ? 413 : 400, number ? "too_large" : "unreadable", number ? "request body too large" : "malformed Content-Length");
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        reader.cancel().catch(() => {});
        throw new FormError(413, "too_large", "request body too large");
      }
      chunks.push(value);
    }
  } catch (e) {
    if (e instanceof FormError) throw e;
    throw new FormError(400, "unreadable", "could not read the request body");
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Parses an `application/x-www-form-urlencoded` or `multipart/form-data` body into single string values.
 * A field sent twice, a file, too many fields or a malformed body is a 400; other content types are a 415.
 */
export async function readForm(request: Request, limit = FORM_BODY_LIMIT): Promise<Map<string, string>> {
  return (await readFormFields(request, [], limit)).single;
}

/** A form's fields: the single-valued ones, and every value of the list fields (repeated like `group=a&group=b`). */
export interface FormFields {
  single: Map<string, string>;
  list(name: string): string[];
}

/**
 * As readForm, but the fields named in `repeatable` may come any number of times (list options such as `group`);
 * any other field sent twice is still a 400.
 */
export async function readFormFields(request: Request, repeatable: readonly string[] = [], limit = FORM_BODY_LIMIT): Promise<FormFields> {
  const contentType = (request.headers.get("content-type") ?? "").toLowerCase();
  const mediaType = contentType.split(";")[0]!.trim();
  if (mediaType !== "application/x-www-form-urlencoded" && mediaType !== "multipart/form-data") {
    throw new FormError(415, "content_type", "send the form as application/x-www-form-urlencoded or multipart/form-data");
  }
  const bytes = await readBounded(request, limit);
  const entries: [string, string][] = [];
  if (mediaType === "application/x-www-form-urlencoded") {
    // URLSearchParams never throws: bad %-escapes stay literal, undecodable bytes become U+FFFD (refused in names).
    for (const [k, v] of new URLSearchParams(new TextDecoder().decode(bytes))) entries.push([k, v]);
  } else {
    let form: Awaited<ReturnType<Response["formData"]>>;
    try {
      form = await new Response(bytes, { headers: { "content-type": request.headers.get("content-type")! } }).formData();
    } catch {
      throw new FormError(400, "malformed", "malformed multipart body");
    }
    for (const [k, v] of form.entries() as Iterable<[string, unknown]>) {
      if (typeof v !== "string") throw new FormError(400, "file_upload", "file uploads are not accepted");
      entries.push([k, v]);
    }
  }
  if (entries.length > MAX_FIELDS + (repeatable.length ? 64 : 0)) throw new FormError(400, "too_many_fields", "too many form fields");
  const fields = new Map<string, string>();
  const lists = new Map<string, string[]>();
  for (const [k, v] of entries) {
    if (repeatable.includes(k)) {
      lists.set(k, [...(lists.get(k) ?? []), v]);
      continue;
    }
    if (fields.has(k)) throw new FormError(400, "repeated_field", `the field '${k.slice(0, 32)}' was sent more than once`, k.slice(0, 32));
    fields.set(k, v);
  }
  return { single: fields, list: (name) => lists.get(name) ?? [] };
}
