// The routes the fuzz test (test/faults-fuzz.test.ts) aims at. One list in one place: add every new route here
// (/register, /api/v1/..., account pages) so the fuzzer covers it.

export interface FuzzRoute {
  /** Path as served; `:param` segments are filled with random junk or plausible ids. */
  path: string;
  /** Methods the route answers; the fuzzer also sends others. */
  methods: string[];
  /** The query string is a token (/invite?TOKEN) rather than key=value pairs. */
  tokenQuery?: boolean;
  /** The token travels in this query parameter (/register?t=TOKEN). */
  tokenParam?: string;
  /** Send the valid API key sometimes, so the authenticated code path is fuzzed too. */
  auth?: boolean;
  /** Bodies the route understands, to mix well-formed with junk. */
  bodies?: ("json" | "form" | "multipart")[];
}

export const FUZZ_ROUTES: FuzzRoute[] = [
  { path: "/invites_api", methods: ["GET", "POST", "OPTIONS", "HEAD"], auth: true },
  { path: "/invite", methods: ["GET", "HEAD"], tokenQuery: true },
  { path: "/healthz", methods: ["GET"] },
  { path: "/metrics", methods: ["GET"] },
  { path: "/", methods: ["GET"] },
  { path: "/register", methods: ["GET", "POST"], tokenParam: "t", bodies: ["form", "multipart"] },
  { path: "/assets/invited.svg", methods: ["GET", "HEAD"] },
  { path: "/assets/logos/conversations.svg", methods: ["GET"] },
  { path: "/api/v1/invites", methods: ["GET", "POST", "OPTIONS"], auth: true, bodies: ["json"] },
  { path: "/api/v1/invites/redeem", methods: ["POST"], auth: true, bodies: ["json"] },
  ...["check", "reserve", "commit", "release", "report"].map((verb): FuzzRoute => ({ path: `/api/v1/xmpp/${verb}`, methods: ["POST"], auth: true, bodies: ["json"] })),
  { path: "/api/v1/invites/:id", methods: ["GET", "DELETE"], auth: true },
  { path: "/api/v1/audit", methods: ["GET"], auth: true },
  { path: "/api/v1/accounts/:user", methods: ["GET", "DELETE"], auth: true },
  { path: "/api/v1/accounts/:user/disable", methods: ["POST"], auth: true, bodies: ["json"] },
  { path: "/account/login", methods: ["GET", "POST"], bodies: ["form", "multipart"] },
  { path: "/account/logout", methods: ["POST"], bodies: ["form"] },
  { path: "/account", methods: ["GET"] },
  { path: "/account/invites", methods: ["GET", "POST"], bodies: ["form"] },
  { path: "/account/invites/revoke", methods: ["POST"], bodies: ["form"] },
  { path: "/account/password", methods: ["GET", "POST"], bodies: ["form"] },
  { path: "/account/sessions", methods: ["POST"], bodies: ["form"] },
  { path: "/account/sessions/all", methods: ["POST"], bodies: ["form"] },
  { path: "/account/not-me", methods: ["POST"], bodies: ["form"] },
  { path: "/account/delete", methods: ["GET", "POST"], bodies: ["form"] },
  { path: "/admin", methods: ["GET"] },
  { path: "/admin/map", methods: ["GET"] },
  { path: "/admin/invites", methods: ["GET", "POST"], bodies: ["form", "multipart"] },
  { path: "/admin/invites/revoke", methods: ["POST"], bodies: ["form"] },
  { path: "/admin/invites/:id", methods: ["GET"] },
  { path: "/admin/accounts", methods: ["GET"] },
  { path: "/admin/accounts/action", methods: ["POST"], bodies: ["form"] },
  { path: "/admin/accounts/:user", methods: ["GET"] },
  { path: "/admin/keys", methods: ["GET", "POST"], bodies: ["form"] },
  { path: "/admin/keys/action", methods: ["POST"], bodies: ["form"] },
  { path: "/admin/audit", methods: ["GET"] },
  { path: "/admin/audit/export.csv", methods: ["GET"] },
  { path: "/admin/audit/export.json", methods: ["GET"] },
  { path: "/admin/outbox", methods: ["GET"] },
  { path: "/admin/outbox/retry", methods: ["POST"], bodies: ["form"] },
  { path: "/admin/console.js", methods: ["GET"] },
  { path: "/api/v1/openapi.json", methods: ["GET"] },
  { path: "/api/v1/docs", methods: ["GET"] },
  // Unknown paths are generated on top of these.
];
