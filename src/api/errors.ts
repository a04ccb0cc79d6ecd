/**
 * Error codes of /api/v1. They are part of the API: never rename one; add new ones instead. Every error answer is
 * `{ "error": { "code": CODE, "message": TEXT } }`; the message is for people and may change.
 */
export const ERROR_CODES = {
  invalid_request: [400, "The body, query or path does not match the schema: a wrong type, a number out of range, an empty or over-long string or list (the message names the field)."],
  invalid_json: [400, "The body is not valid JSON (or not UTF-8)."],
  too_deep: [400, "The JSON body nests arrays and objects deeper than 32 levels (refused before it is parsed)."],
  invalid_cursor: [400, "The pagination cursor is not one this server handed out."],
  missing_key: [401, "No `Authorization: Bearer ID/TOKEN` header. `?key=` is not accepted by /api/v1."],
  invalid_key: [403, "The key is malformed, unknown, wrong, expired or disabled (the reason goes only to the audit log)."],
  insufficient_scope: [403, "The key is valid but lacks the scope this call needs."],
  ttl_above_key_limit: [403, "The requested lifetime is longer than the key's max_ttl."],
  max_uses_above_key_limit: [403, "The requested max_uses is above the key's max_uses (or unlimited while the key has a ceiling)."],
  not_found: [404, "No such route under /api/v1."],
  invite_not_found: [404, "No invite with this id or token on the key's host."],
  account_not_found: [404, "No account with this username on the key's host."],
  method_not_allowed: [405, "The route exists but not with this method (see the Allow header)."],
  invite_used: [409, "The invite has no uses left."],
  invite_busy: [409, "Every remaining use of the invite is held by a registration in flight; it may come back, retry later."],
  username_taken: [409, "An account has this username or a look-alike (same UTS #39 skeleton), or another open invite is bound to it, or someone is registering it right now."],
  invite_expired: [410, "The invite has expired."],
  invite_revoked: [410, "The invite was revoked."],
  unsupported_media_type: [415, "A body that is not `application/json` (a charset other than UTF-8, or a body without Content-Type)."],
  invalid_ttl: [422, "The lifetime is not a positive duration of at least 1s."],
  ttl_too_long: [422, "The lifetime is longer than the host's invite_max_ttl."],
  invalid_uses: [422, "max_uses is out of range (the schema answers first, with 400 invalid_request, for this API's bodies)."],
  invalid_username: [422, "The username breaks the host's username rules (length, invisible or forbidden characters, mixed scripts, reserved name; the message says which), or is missing for a reset invite."],
  invalid_label: [422, "A group or role name has spaces or control characters."],
  invalid_note: [422, "The note has control characters or a lone UTF-16 surrogate."],
  account_missing: [422, "A reset invite names an account that does not exist on the host."],
  username_mismatch: [422, "The invite is bound to another username."],
  too_many_registrations: [429, "Too many registrations from the client's network ([limits] registration_rate); retry after Retry-After seconds."],
  rate_limited: [429, "The key is over its rate; retry after Retry-After seconds."],
  locked_out: [429, "The key did not verify, and this network is locked out after too many failed authentications; retry after Retry-After seconds (a valid key is served meanwhile)."],
  internal_error: [500, "A bug; the server log has the details."],
  provision_failed: [502, "The host's real server (its provider) refused the operation or did not answer; invited changed nothing (the message carries the provider's reason)."],
  storage_unavailable: [503, "The database cannot take writes right now; retry later."],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Thrown by /api/v1 handlers and hooks; the API's error handler turns it into the JSON error answer. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = ERROR_CODES[code][0];
  }
}

export function errorResponse(code: ErrorCode, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status: ERROR_CODES[code][0],
    headers: { "Content-Type": "application/json", "Cache-Control": "no-store", ...headers },
  });
}
