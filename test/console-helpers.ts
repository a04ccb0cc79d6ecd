// Admins for the console tests: an account made the way a person would, given `admin` and TOTP through the real CLI,
// then signed in over HTTP with a code computed from the otpauth:// URI the CLI printed.
import * as OTPAuth from "otpauth";
import { cli, type Sandbox, type TestServer } from "./helpers.ts";
import { makeAccount } from "./invite-helpers.ts";
import { Browser, ORIGIN } from "./account-helpers.ts";

export const PW = "correct horse battery";

/** The TOTP of an otpauth:// URI; `code(offsetSteps)` gives the code of another 30-second step. */
export function totpOf(uri: string) {
  const totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP;
  return { totp, code: (offsetSteps = 0) => totp.generate({ timestamp: Date.now() + offsetSteps * 30_000 }) };
}

export async function enrolTotp(sb: Sandbox, user: string): Promise<string> {
  const r = await cli(["user", "totp", "example.com", user], { config: sb.config });
  if (r.code !== 0) throw new Error(`totp enrolment failed: ${r.stderr}`);
  return /otpauth:\/\/\S+/.exec(r.stdout)![0];
}

/** A new account with role admin and TOTP; returns its otpauth:// URI. */
export async function makeAdmin(sb: Sandbox, server: TestServer, user: string): Promise<string> {
  await makeAccount(sb, server, user, PW);
  const r = await cli(["user", "role", "add", "example.com", user, "admin"], { config: sb.config });
  if (r.code !== 0) throw new Error(`role add failed: ${r.stderr}`);
  return enrolTotp(sb, user);
}

/** Signs in with password and TOTP code (fields user, password, totp); returns the browser and the answer. */
export async function signInWithTotp(server: TestServer, user: string, totp: string | null, ip: string | null = null) {
  const b = new Browser(server, ORIGIN, ip);
  await b.get("/account/login");
  const page = await b.post("/account/login", { user, password: PW, ...(totp !== null ? { totp } : {}) });
  return { browser: b, page };
}

/** A signed-in admin browser (the next step's code, so a second admin signed in within 30 s does not collide). */
export async function adminBrowser(server: TestServer, user: string, uri: string, ip: string | null = null): Promise<Browser> {
  const { browser, page } = await signInWithTotp(server, user, totpOf(uri).code(), ip);
  if (page.status !== 303) throw new Error(`admin sign-in of ${user} failed: ${page.status}`);
  return browser;
}
