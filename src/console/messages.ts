import type { Messages } from "../i18n/index.ts";
import type { MessageKey } from "../i18n/catalogs.ts";

/**
 * The shape of the admin console's texts. Each leaf names a catalog key (`console_` + its path joined by `_`, list
 * items by their index); the English here is the catalog's, for reading the code. A function's parameters are the
 * message's placeholders in FN_PARAMS. `consoleText(m)` gives the same shape in the page's language.
 */
export const CONSOLE_SHAPE = {
  consoleTitle: "Admin",
  nav: { label: "Console", dashboard: "Dashboard", map: "Map", invites: "Invites", accounts: "Accounts", keys: "API keys", audit: "Audit log", outbox: "Notifications", signOut: "Sign out" },
  refused: {
    notAdminTitle: "Admins only",
    notAdmin: "This account does not administer this server. An admin is made with `invited user role add HOST USER admin`.",
    noTotpTitle: "Two-step sign-in needed",
    noTotp: "The console needs a sign-in with an authenticator code. Enrol one with `invited user totp HOST USER` on the server, then sign out and sign in again with the code.",
    crossOriginTitle: "This form was sent from another site",
    crossOrigin: "For your safety, the console only accepts forms sent from its own site. Nothing was changed.",
    staleTitle: "This form has expired",
    stale: "The form was not sent by this browser's current session. Nothing was changed. Reload the page and try again.",
    unreadableTitle: "The form could not be read",
    notFoundTitle: "Not found",
    notFound: "There is nothing here (it may have been deleted).",
    badInputTitle: "That did not work",
    self: "You cannot do that to your own account from the console.",
    oneRole: "Give one role at a time.",
    badPage: "Bad page link.",
  },
  confirm: {
    title: "Are you sure?",
    yes: "Yes, do it",
    cancel: "Cancel",
  },
  common: { none: "None", yes: "yes", no: "no", next: "Older →", first: "← Newest", filter: "Filter", never: "never", unlimited: "unlimited", all: "All" },
  dashboard: {
    title: "Dashboard",
    accounts: "Accounts",
    openInvites: "Open invites",
    registrations30: "Registrations, 30 days",
    keyFailures: "Failed key checks, 24 h",
    lockouts: "Lockouts, 24 h",
    loginFailures: "Failed sign-ins, 24 h",
    pending: "Notifications pending",
    failed: "Notifications failed",
    chartTitle: "Registrations per day (30 days, UTC)",
    chartLabel: (total: number) => `Bar chart of registrations per day over the last 30 days, ${total} in all`,
    providers: "Provider health",
    providerNone: "No provider or webhook is configured.",
    provider: (type: string) => `provider: ${type}`,
    lastFailure: "Last failure",
    lastSuccess: "Last success",
    notThisWeek: "not in 7 days",
    geoip: "GeoIP database",
    geoipAge: (days: number) => `built ${days} day${days === 1 ? "" : "s"} ago`,
    geoipUnknown: "build date unknown",
    geoipOff: "GeoIP is off",
  },
  map: {
    title: "Where events come from",
    window: "Window",
    type: "Event type",
    anyType: "Any type",
    country: "Country",
    events: "Events",
    unknown: "Unknown (no location)",
    mapLabel: (n: number, countries: number) => `World map of ${n} events from ${countries} countries`,
    empty: "No events in this window.",
  },
  invites: {
    title: "Invites",
    create: "Create an invite",
    username: "Bound to a username (optional)",
    reset: "Password-reset invite for that existing account",
    group: "Group (optional)",
    role: "Role (optional, never admin)",
    uses: "Uses",
    unlimited: "Unlimited uses",
    ttl: "Lifetime (like 7d or 12h; empty: the host's default)",
    note: "Note (optional)",
    createButton: "Create",
    created: "The invite is ready. Its link is shown only now.",
    link: "Invite link",
    copy: "Copy",
    usesFact: (uses: string) => `Uses ${uses}`,
    expiresFact: (when: string) => `Expires ${when}`,
    qrLabel: "QR code of the new invite link",
    status: "Status",
    creator: "Creator",
    anyCreator: "Anyone",
    creators: { cli: "CLI", key: "An API key", member: "A member", console: "The console" },
    statuses: { active: "Open", used: "Used", expired: "Expired", revoked: "Revoked" } as Record<string, string>,
    head: ["Made", "Status", "Kind", "Uses", "Creator", "Expires"],
    empty: "No invites match.",
    show: "Show",
    revoke: "Revoke",
    revokeConfirm: (id: string) => `Revoke invite ${id}? Its link stops working at once.`,
    revoked: "The invite is revoked.",
    ledger: "Ledger (who used it)",
    ledgerHead: ["When", "Account", "Source"],
    ledgerEmpty: "Nobody has used it.",
    errors: {
      resetNeedsName: "A password-reset invite needs the account's username.",
      usesOrUnlimited: "Choose a number of uses or unlimited, not both.",
      uses: "Uses must be a whole number from 1 to 1000000.",
      ttl: "The lifetime is not a duration (like 90m, 12h or 7d).",
    },
    facts: { id: "Id", kind: "Kind", username: "Username", groups: "Groups", roles: "Roles", uses: "Uses", created: "Made", expires: "Expires", creator: "Creator", note: "Note" },
  },
  accounts: {
    title: "Accounts",
    search: "Name starts with",
    head: ["Account", "Made", "Roles", "Invited by", "Status"],
    empty: "No accounts match.",
    enabled: "Enabled",
    disabled: "Disabled",
    facts: { address: "Address", created: "Made", invitedBy: "Invited by", creator: "Invite creator", roles: "Roles", groups: "Groups", totp: "Two-step sign-in", status: "Status" },
    invitees: "Invited by this account",
    noInvitees: "Nobody yet.",
    events: "Recent events",
    disable: "Disable",
    enable: "Enable",
    delete: "Delete",
    reset: "Make a password-reset invite",
    roleAdd: "Add role",
    roleName: "Role",
    roleHint: "Like moderator; admin makes this account an admin of the host (it then needs TOTP to use the console).",
    eventsHead: ["When", "Type", "Source", "Country"],
    roleRemove: (r: string) => `Remove ${r}`,
    disableConfirm: (a: string) => `Disable ${a}? They cannot sign in or invite, their sessions end and their open invites are revoked.`,
    deleteConfirm: (a: string) => `Delete ${a}? This cannot be undone.`,
    downstreamFailed: (detail: string) => `The real server did not do it, so nothing changed here: ${detail.slice(0, 300)}`,
    roleRemoveConfirm: (r: string, a: string) => `Take the role ${r} from ${a}?`,
    done: { disabled: "The account is disabled.", enabled: "The account is enabled.", deleted: "The account is deleted.", role: "Roles updated." } as Record<string, string>,
  },
  keys: {
    title: "API keys",
    create: "Create a key",
    name: "Name",
    scopes: "Scopes",
    expires: "Expires in (like 90d; empty: never)",
    maxTtl: "Longest invite lifetime (like 7d; optional)",
    maxUses: "Most uses per invite (optional)",
    rate: "Rate (like 60/min; optional)",
    createButton: "Create key",
    created: "The key is ready. Its secret is shown only now.",
    secret: "Key secret",
    head: ["Key", "Scopes", "Ceilings", "Expires", "Last use", "Status"],
    empty: "No keys yet.",
    states: { disabled: "Disabled", expired: "Expired", on: "On" },
    ceilingTtl: (ttl: string) => `invites live at most ${ttl}`,
    ceilingUses: (uses: number) => `at most ${uses} uses per invite`,
    ceilingRate: (rate: string) => `rate ${rate}`,
    errors: {
      expires: "The expiry is not a duration (like 90d or 12h).",
      maxTtl: "The longest invite lifetime is not a duration (like 7d).",
      maxUses: "Most uses must be a whole number.",
      grace: "The grace period is not a duration (like 1h, or 0).",
    },
    disable: "Disable",
    enable: "Enable",
    rotate: "Rotate",
    grace: "Old secret works for (like 1h)",
    del: "Delete",
    deleteConfirm: (id: string) => `Delete key ${id}? Clients using it stop working at once.`,
    rotateConfirm: (id: string) => `Rotate key ${id}? A new secret is made; the old one works for the grace period.`,
    disableConfirm: (id: string) => `Disable key ${id}? Clients using it are refused until it is enabled again.`,
    done: { deleted: "The key is deleted.", disabled: "The key is disabled.", enabled: "The key is enabled." } as Record<string, string>,
  },
  audit: {
    title: "Audit log",
    type: "Type (or family like key.*)",
    user: "Account",
    ip: "Address or prefix",
    country: "Country code",
    since: "From (UTC, like 2026-12-01)",
    until: "Until (UTC)",
    head: ["When", "Type", "Account", "Source", "Actor", "Address", "Country", "Details"],
    empty: "No events match.",
    csv: "Download CSV",
    json: "Download JSON",
    errors: {
      type: "That is not an event type (or a family like key.*).",
      ip: "The address filter takes an address or its beginning, like 203.0.113. or 2001:db8:.",
      country: "The country is a two-letter code, like DE.",
      time: "Times are dates like 2026-12-01 or 2026-12-01 14:00 (UTC).",
    },
  },
  outbox: {
    title: "Notifications",
    head: ["Id", "Event", "Endpoint", "Status", "Tries", "Next try", "Last error"],
    empty: "The outbox is empty: every notification was delivered.",
    pending: "Pending",
    retrying: "Retrying",
    failed: "Gave up",
    retry: "Retry",
    retryAll: "Retry every failed one",
    retried: (n: number) => `${n} notification${n === 1 ? "" : "s"} queued again.`,
    endpoints: "Endpoints",
    pendingCount: (n: number) => `${n} pending`,
    failedCount: (n: number) => `${n} gave up`,
    endpointOff: (since: string) => `off since ${since}`,
    endpointOn: "on",
  },
} as const;

/** The texts as a page gets them: any string in place of each English one. */
type Localised<T> = T extends string ? string : T extends (...a: infer A) => string ? (...a: A) => string : T extends readonly (infer U)[] ? readonly Localised<U>[] : { readonly [K in keyof T]: Localised<T[K]> };
export type ConsoleText = Localised<typeof CONSOLE_SHAPE>;

/** The placeholders of each message that takes values, in the order of the function's parameters. */
const FN_PARAMS: Record<string, string[]> = {
  console_dashboard_chartLabel: ["total"],
  console_dashboard_provider: ["type"],
  console_dashboard_geoipAge: ["days"],
  console_map_mapLabel: ["n", "countries"],
  console_invites_usesFact: ["uses"],
  console_invites_expiresFact: ["when"],
  console_invites_revokeConfirm: ["id"],
  console_accounts_roleRemove: ["role"],
  console_accounts_disableConfirm: ["address"],
  console_accounts_deleteConfirm: ["address"],
  console_accounts_downstreamFailed: ["detail"],
  console_accounts_roleRemoveConfirm: ["role", "address"],
  console_keys_ceilingTtl: ["ttl"],
  console_keys_ceilingUses: ["uses"],
  console_keys_ceilingRate: ["rate"],
  console_keys_deleteConfirm: ["id"],
  console_keys_rotateConfirm: ["id"],
  console_keys_disableConfirm: ["id"],
  console_outbox_retried: ["n"],
  console_outbox_pendingCount: ["n"],
  console_outbox_failedCount: ["n"],
  console_outbox_endpointOff: ["since"],
};

function localise(m: Messages, shape: unknown, key: string): unknown {
  if (typeof shape === "string") return m.text(key as MessageKey);
  if (typeof shape === "function") {
    const names = FN_PARAMS[key];
    if (!names) throw new Error(`console message ${key} has no FN_PARAMS entry`);
    return (...args: (string | number)[]) => m.text(key as MessageKey, Object.fromEntries(names.map((n, i) => [n, typeof args[i] === "string" ? (args[i] as string).slice(0, 300) : args[i]!])));
  }
  if (Array.isArray(shape)) return shape.map((_, i) => m.text(`${key}_${i}` as MessageKey));
  return Object.fromEntries(Object.entries(shape as Record<string, unknown>).map(([k, v]) => [k, localise(m, v, `${key}_${k}`)]));
}

const byMessages = new WeakMap<Messages, ConsoleText>();

/** The console's texts in the language of `m`, built once per Messages. */
export function consoleText(m: Messages): ConsoleText {
  let t = byMessages.get(m);
  if (!t) byMessages.set(m, (t = localise(m, CONSOLE_SHAPE, "console") as ConsoleText));
  return t;
}
