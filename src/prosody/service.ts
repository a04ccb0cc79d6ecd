// What invited knows of each host's XMPP server: the reports of Prosody's mod_invited, and from them whether apps
// can register in-band with invited's tokens (app_registration).
import { eq, sql } from "drizzle-orm";
import type { AppContext } from "../context.ts";
import type { HostConfig } from "../config/index.ts";
import { perDb } from "../db/index.ts";
import { prosodyReports } from "./schema.ts";

/** With app_registration = "auto", a report older than this no longer counts: the module reports every 5 minutes. */
export const REPORT_FRESH_MS = 24 * 3_600_000;

export type ProsodyReport = typeof prosodyReports.$inferSelect;

export interface ReportInput {
  prosodyVersion: string | null;
  moduleVersion: string | null;
}

/** Records that the host's mod_invited is running (one row per host, replaced). */
export function recordProsodyReport(ctx: AppContext, host: HostConfig, input: ReportInput, now = Date.now()): Promise<void> {
  return ctx.db.write(() => {
    const row = { host: host.name, reportedAt: now, prosodyVersion: input.prosodyVersion, moduleVersion: input.moduleVersion };
    ctx.db.orm.insert(prosodyReports).values(row).onConflictDoUpdate({ target: prosodyReports.host, set: row }).run();
  });
}

const findReport = perDb((db) => db.orm.select().from(prosodyReports).where(eq(prosodyReports.host, sql.placeholder("host"))).prepare());

export function lastProsodyReport(ctx: AppContext, host: string): ProsodyReport | null {
  return findReport(ctx.db).get({ host }) ?? null;
}

/**
 * Whether to offer in-band registration to apps (the landing page's app button, the Link header, xmpp_uri):
 * app_registration = true or false says so; "auto" means while mod_invited has reported within the last day.
 */
export function appRegistrationOffered(ctx: AppContext, host: HostConfig, now = Date.now()): boolean {
  if (host.appRegistration !== "auto") return host.appRegistration;
  const report = lastProsodyReport(ctx, host.name);
  return report !== null && now - report.reportedAt < REPORT_FRESH_MS;
}
