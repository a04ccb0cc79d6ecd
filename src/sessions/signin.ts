import type { AppContext, Origin } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { recordEvent } from "../audit/service.ts";
import { CoalescedEvents } from "../audit/coalesce.ts";
import { AccountExistsError, createAccountTx, findAccount, normaliseUsername, type Account } from "../accounts/service.ts";
import { hashQueueFor } from "../limits/registration.ts";
import { takeSignInAttempt } from "../limits/signin.ts";
import { onePer } from "../lib/memo.ts";
import { parseIp, truncateIp } from "../lib/ip.ts";
import { startSessionTx, type Session } from "./service.ts";
import { verifyDownstream } from "./verifiers.ts";
import { checkTotp, hasTotp } from "../accounts/totp.ts";

/**
 * Sign-in: which host, the throttles, the password checked where it lives ([hosts.X.signin]), then a new session
 * with its `account.login` event. An unknown name and a wrong password take the same path to the same answer: a
 * local check verifies against a dummy hash, a downstream check asks the downstream either way.
 */

export interface SignInInput {
  /** `name` or `name@host`; `name` alone is enough when one host is configured. */
  user: string;
  password: string;
  /** The TOTP code: required (and checked after the password) when the account has one enrolled. */
  totp?: string;
}

export type SignInFailure =
  /** Wrong password, unknown account, or a name that cannot be one: one answer for all. */
  | "invalid"
  | "missing_fields"
  /** Several hosts are configured and the name has no @host (or names an unknown host). */
  | "host_needed"
  /** The account exists and the password is right, but it is disabled. */
  | "disabled"
  | "throttled"
  /** The hash queue is full. */
  | "busy"
  /** The downstream check failed (timeout, server down, unexpected answer). */
  | "unavailable"
  /** This host has no sign-in ([hosts.X.signin] type = "none"). */
  | "signin_off"
  /** The password is right, but the account has TOTP and the code is missing, wrong or already used. */
  | "totp_invalid";

export type SignInResult =
  | { ok: true; host: HostConfig; account: Account; session: Session; secret: string }
  | { ok: false; reason: SignInFailure; host: HostConfig | null; retryAfterMs?: number };

/** Splits what was typed into a host and a normalised name; null host when it cannot be told. */
export function resolveSignInName(ctx: AppContext, typed: string): { host: HostConfig | null; username: string } {
  const text = typed.trim();
  const at = text.lastIndexOf("@");
  const hosts = Object.values(ctx.config.hosts);
  if (at < 0) return { host: hosts.length === 1 ? hosts[0]! : null, username: normaliseUsername(text.slice(0, 1100)) };
  const hostName = text.slice(at + 1).toLowerCase();
  const host = Object.hasOwn(ctx.config.hosts, hostName) ? ctx.config.hosts[hostName]! : null;
  return { host, username: normaliseUsername(text.slice(0, Math.min(at, 1100))) };
}

/**
 * An argon2id hash of a random value nobody kept, with the cost of hashPassword's (m=64 MiB, t=2, p=1): verifying an
 * unknown name against it takes as long as a real check. A constant, so no process hashes at start (that hash held
 * 64 MiB outside the hash queue's bound).
 */
const DUMMY_HASH = "$argon2id$v=19$m=65536,t=2,p=1$DeI3byzGP+5Y5k7tPdIqE2kKFjlVnA2DuVF9veG36fQ$PNpstPBVoLfmFtflkJrhR7SSHoE5dBJsEefGjtonBf4";

/** Failed sign-ins: one row per (host, account, reason, client network) and window, repeats counted. */
const failedSignIns = onePer((ctx: AppContext) => new CoalescedEvents(ctx, ctx.config.limits.authFailureWindow));

export function flushFailedSignIns(ctx: AppContext): Promise<unknown> {
  return failedSignIns(ctx).flush();
}

export async function signIn(ctx: AppContext, origin: Origin, input: SignInInput): Promise<SignInResult> {
  if (!input.user.trim() || !input.password) return { ok: false, reason: "missing_fields", host: null };
  const { host, username } = resolveSignInName(ctx, input.user);
  if (!host) return { ok: false, reason: "host_needed", host: null };
  if (host.signin.type === "none") return { ok: false, reason: "signin_off", host };
  const attempt = takeSignInAttempt(ctx, origin.ip, `${username}@${host.name}`);
  if (!attempt.ok) {
    await recordFailure(ctx, origin, host, username, "throttled");
    return { ok: false, reason: "throttled", host, retryAfterMs: attempt.retryAfterMs };
  }
  // A name that could never be an account is still checked the full way below (same time), only never looked up.
  // Not checkUsername: registration's rules (reserved names, minimum length, ...) must not lock old accounts out.
  const plausible = plausibleAccountName(username, host) && input.password.length <= 1024;
  const account = plausible ? findAccount(ctx, host.name, username) : null;

  const verdict = await checkPasswordWhereItLives(ctx, host, username, input.password, account, plausible);
  if (verdict === "busy") return { ok: false, reason: "busy", host };
  if (verdict === "unavailable") {
    await recordFailure(ctx, origin, host, username, "unavailable", account);
    return { ok: false, reason: "unavailable", host };
  }
  const valid = verdict === "valid";
  if (!valid) {
    await recordFailure(ctx, origin, host, username, "invalid", account);
    return { ok: false, reason: "invalid", host };
  }
  if (account?.disabledAt) {
    await recordFailure(ctx, origin, host, username, "disabled", account);
    return { ok: false, reason: "disabled", host };
  }
  let secondFactor = false;
  if (account && hasTotp(account)) {
    // Checked only after the password, and throttled by the same attempt counters as passwords (each try took one).
    const code = (input.totp ?? "").replace(/[\s-]/g, "");
    const totp = code ? await checkTotp(ctx, account, code) : "invalid";
    if (totp !== "ok") {
      await recordFailure(ctx, origin, host, username, code ? (totp === "reused" ? "totp_reused" : "totp_invalid") : "totp_missing", account);
      return { ok: false, reason: "totp_invalid", host };
    }
    secondFactor = true;
  }
  return startSignedIn(ctx, origin, host, account?.username ?? username, secondFactor);
}

/** A name that can be looked up or recorded at all: 1 to usernameMaxLength characters, no blanks, controls or separators. */
function plausibleAccountName(username: string, host: HostConfig): boolean {
  return username.length > 0 && [...username].length <= host.usernameMaxLength && !/[\s\p{C}\uFFFD@\/:"'&<>]/u.test(username);
}

export type PasswordVerdict = "valid" | "invalid" | "busy" | "unavailable";

/**
 * Checks a member's password where it lives ([hosts.X.signin]): invited's own hash (through the hash queue, against
 * a dummy hash when there is none, so the time is the same), or the downstream's check. Used by sign-in and by the
 * password change and account deletion, which ask for the current password again.
 */
export async function checkPasswordWhereItLives(
  ctx: AppContext,
  host: HostConfig,
  username: string,
  password: string,
  account: Account | null,
  plausible = true,
): Promise<PasswordVerdict> {
  if (host.signin.type === "none") return "unavailable";
  if (host.signin.type === "local") {
    const ticket = hashQueueFor(ctx).admit();
    if (!ticket) return "busy";
    const hash = account?.passwordHash ?? DUMMY_HASH;
    const clipped = password.slice(0, 1024);
    const matched = await ticket.run(() => Bun.password.verify(clipped, hash));
    return matched && account !== null && account.passwordHash !== null && plausible ? "valid" : "invalid";
  }
  if (!plausible) return "invalid";
  const verdict = await verifyDownstream({ host, username, password }, ctx.log);
  if (verdict.result === "error") {
    ctx.log.warn(`sign-in check (${host.signin.type}) for ${username}@${host.name} failed: ${verdict.detail}`);
    return "unavailable";
  }
  return verdict.result;
}

/** The session and its event in one job; an account known only downstream gets its row here (no password hash). */
async function startSignedIn(ctx: AppContext, origin: Origin, host: HostConfig, username: string, secondFactor = false): Promise<SignInResult> {
  const actor: Origin = { ...origin, actor: `account/${username}@${host.name}` };
  try {
    return await ctx.db.write((): SignInResult => {
      const now = Date.now();
      let account = findAccount(ctx, host.name, username);
      let firstSignIn = false;
      if (!account) {
        account = createAccountTx(ctx, { host: host.name, username, passwordHash: null, roles: [], groups: [], inviteId: null, invitedBy: null }, now);
        firstSignIn = true;
      } else if (account.disabledAt) {
        return { ok: false, reason: "disabled", host }; // disabled between the check and now
      }
      const started = startSessionTx(ctx, actor, host.name, username, now, secondFactor);
      recordEvent(ctx, actor, { type: "account.login", host: host.name, user: username, details: { method: host.signin.type, session: started.session.id, ...(secondFactor ? { second_factor: "totp" } : {}), ...(firstSignIn ? { first_sign_in: true } : {}) } }, now);
      return { ok: true, host, account, session: started.session, secret: started.secret };
    });
  } catch (e) {
    if (e instanceof AccountExistsError) return startSignedIn(ctx, origin, host, username, secondFactor); // made meanwhile: sign in to it
    throw e;
  }
}

async function recordFailure(ctx: AppContext, origin: Origin, host: HostConfig, username: string, reason: string, account: Account | null = null): Promise<void> {
  // The name is kept only for a real account: junk typed into the form never lands in the log, and the event shows
  // on that member's own activity list.
  const user = account ? account.username : "";
  const addr = origin.ip ? parseIp(origin.ip) : null;
  const network = addr ? truncateIp(addr, ctx.config.limits.ipv4Prefix, ctx.config.limits.ipv6Prefix) : "-";
  await failedSignIns(ctx).record(`${host.name}|${user}|${reason}|${network}`, origin, { type: "account.login_failed", host: host.name, user, details: { reason, method: host.signin.type } });
}
