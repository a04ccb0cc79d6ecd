import type { Server } from "bun";
import type { AppContext } from "../context.ts";
import { createApp } from "./app.ts";
import { matchedRoute, setRequestInfo } from "./request-info.ts";
import { httpRequestStarted, observeHttpRequest } from "../metrics/index.ts";
import { AddressMatcher, resolveClientIp } from "../lib/ip.ts";
import { redactPath } from "../lib/log.ts";
import { pathAndQuery, pathOf } from "../lib/url.ts";
import { ForwardedNotices } from "./forwarded.ts";
import { invitesApiError } from "../invites/prosody-api.ts";
import { API_PREFIX } from "../api/index.ts";
import { errorResponse } from "../api/errors.ts";
import { recordEvent, storedClientIp } from "../audit/service.ts";
import { SYSTEM_ORIGIN } from "../context.ts";
import { flushAuthFailures } from "../keys/service.ts";
import { flushRefusals } from "../registration/service.ts";
import { flushFailedSignIns } from "../sessions/signin.ts";
import { startSessionPruner } from "../sessions/service.ts";
import { startRetention } from "../audit/retention.ts";
import { startReservationSweeper } from "../provisioning/service.ts";
import { startDeliveryWorker } from "../notify/worker.ts";
import { startCheckpointer } from "../db/checkpointer.ts";

export interface RunningServer {
  server: Server<undefined>;
  url: string;
  /** Stops accepting, waits for requests in flight (up to shutdown_timeout), then closes the database. */
  stop(reason?: string): Promise<void>;
}

/** Starts the HTTP side. Throws if the port is taken (reusePort is off so a second server cannot hide behind it). */
export function startServer(ctx: AppContext): RunningServer {
  const app = createApp(ctx);
  const trusted = new AddressMatcher(ctx.config.server.trustedProxies);
  const forwarded = new ForwardedNotices(ctx);
  const logRequests = ctx.config.server.requestLog;
  const requestLog = new BufferedLog();
  let inFlight = 0;
  let whenIdle: (() => void) | null = null;

  // Runs for every request, so it avoids async/await and re-reading request.url: ~1 µs here is ~5% of a 403.
  const fetchHandler = (incoming: Request, server: Server<undefined>): Response | Promise<Response> => {
    const startedAt = performance.now();
    let request = incoming;
    let url = request.url;
    inFlight++;
    httpRequestStarted();
    const peer = server.requestIP(request)?.address ?? null;
    const client = resolveClientIp(peer, request.headers.get("x-forwarded-for"), trusted);
    const ip = client.ip;
    if (client.untrusted) forwarded.untrusted(peer!, request.headers.get("user-agent")?.slice(0, 512) ?? null);
    // Give every request an absolute URL with an authority Elysia can parse: an HTTP/1.0 request without Host has
    // the bare path as its URL (new URL() throws on it), and Elysia looks for the path from index 11 of the URL on,
    // so with a Host shorter than 4 characters ("Host: a") it would route "/zz/metrics" as "/metrics".
    const slash = url.charCodeAt(0) === 47 ? 0 : url.indexOf("/", 7);
    if (slash >= 0 && slash < 11) {
      request = new Request(`http://unknown-host${url.slice(slash)}`, request);
      url = request.url;
    }
    setRequestInfo(request, { ip, startedAt });
    const finish = (response: Response): Response => {
      if (--inFlight === 0 && whenIdle) whenIdle();
      observeHttpRequest(request.method, matchedRoute(request), response.status, (performance.now() - startedAt) / 1000);
      if (logRequests) {
        const path = logPath(url);
        const ms = (performance.now() - startedAt).toFixed(1);
        requestLog.write(`${timestamp()} ${storedClientIp(ctx, ip) ?? "-"} ${request.method.slice(0, 16)} ${path} ${response.status} ${ms}ms\n`);
      }
      return response;
    };
    const fail = (e: unknown): Response => {
      ctx.log.error(`request failed: ${(e as Error)?.stack ?? String(e)}`);
      return finish(new Response("internal error\n", { status: 500 }));
    };
    if (client.invalid !== null) {
      forwarded.invalid(peer, client.invalid);
      return finish(badForwardedFor(pathOf(url), ctx.config.server.invitesApiPath));
    }
    try {
      const result = app.fetch(request);
      return result instanceof Promise ? result.then(finish, fail) : finish(result);
    } catch (e) {
      return fail(e);
    }
  };

  const server = Bun.serve({
    hostname: ctx.config.server.hostname,
    port: ctx.config.server.port,
    reusePort: false,
    maxRequestBodySize: ctx.config.server.maxBodySize,
    idleTimeout: ctx.config.server.idleTimeout,
    fetch: fetchHandler,
    error(e) {
      ctx.log.error(`server error: ${e.message}`);
      return new Response("bad request\n", { status: 400 });
    },
  });

  ctx.geoip.open();
  const geoipTimer = setInterval(() => ctx.geoip.refresh(), ctx.config.audit.geoipCheckInterval);
  geoipTimer.unref();
  const retention = startRetention(ctx); // prunes the audit log shortly after start, then daily
  const reservationSweeper = startReservationSweeper(ctx); // releases reservations a crashed process left behind
  const deliveryWorker = startDeliveryWorker(ctx); // sends the notification outbox
  const sessionPruner = startSessionPruner(ctx); // deletes sessions that ended by time
  const checkpointer = startCheckpointer(ctx.db, ctx.log); // copies the WAL into the database off the request thread

  const url = `http://${server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname}:${server.port}`;
  ctx.db.write(() => recordEvent(ctx, SYSTEM_ORIGIN, { type: "server.started", details: { listen: url, pid: process.pid } })).catch(() => {});
  ctx.log.info(`invited listening on ${url}`);
  // Each host's public links, so a public_url that does not match how the server is reached shows at once.
  for (const h of Object.values(ctx.config.hosts)) ctx.log.info(`host ${h.name}: invite links ${h.publicUrl}${h.invitePath}?TOKEN`);

  let stopping: Promise<void> | null = null;
  return {
    server,
    url,
    stop(reason = "stop") {
      stopping ??= (async () => {
        clearInterval(geoipTimer);
        const done = server.stop(false); // stop accepting; in-flight requests run to completion
        const deadline = new Promise<void>((r) => setTimeout(r, ctx.config.server.shutdownTimeout).unref());
        // Bun's stop(false) settles once no open connection has a request running; a request whose client has
        // gone away may still be waiting for its commit, so wait for our own count too.
        const handled = inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => (whenIdle = r));
        await Promise.race([Promise.all([done, handled]), deadline]);
        if (inFlight > 0) {
          ctx.log.warn(`shutdown timeout: ${inFlight} request(s) still running; closing connections`);
          server.stop(true);
        }
        await retention.stop();
        reservationSweeper.stop();
        sessionPruner.stop();
        await deliveryWorker.stop();
        await flushAuthFailures(ctx);
        await flushRefusals(ctx);
        await flushFailedSignIns(ctx);
        try {
          await ctx.db.write(() => recordEvent(ctx, SYSTEM_ORIGIN, { type: "server.stopped", details: { reason } }));
        } catch {}
        requestLog.flush();
        await checkpointer.stop(); // its connection must close first, so the last close can checkpoint and remove the WAL
        ctx.db.close();
      })();
      return stopping;
    },
  };
}

const BAD_FORWARDED_FOR = "X-Forwarded-For from a trusted proxy has an entry that is not a bare IP address";

/**
 * 400 for an X-Forwarded-For the server cannot use, answered before routing so every route refuses it alike, in the
 * shape of the path's API: /api/v1's JSON error (invalid_request), /invites_api's text with its CORS headers, text elsewhere.
 */
function badForwardedFor(path: string, invitesApiPath: string): Response {
  if (path === API_PREFIX || path.startsWith(`${API_PREFIX}/`)) return errorResponse("invalid_request", BAD_FORWARDED_FOR, { "Access-Control-Allow-Origin": "*" });
  if (path === invitesApiPath) return invitesApiError(400, BAD_FORWARDED_FOR);
  return new Response(`bad request: ${BAD_FORWARDED_FOR}\n`, { status: 400, headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" } });
}

const UNSAFE_CHAR = /[\x00-\x20\x7f]/;
const UNSAFE_CHARS = new RegExp(UNSAFE_CHAR.source, "g");

/** The path as the request log shows it: secrets redacted, at most 300 characters, control characters escaped. */
function logPath(url: string): string {
  const path = redactPath(pathAndQuery(url)).slice(0, 300);
  // Testing first skips building a new string for the usual path, which has nothing to escape.
  return UNSAFE_CHAR.test(path) ? path.replace(UNSAFE_CHARS, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`) : path;
}

/** Collects request-log lines and writes them once per event-loop turn: one syscall for many requests. */
class BufferedLog {
  private pending = "";
  private scheduled = false;
  write(line: string): void {
    this.pending += line;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }
  flush(): void {
    this.scheduled = false;
    if (this.pending) {
      const text = this.pending;
      this.pending = "";
      process.stdout.write(text);
    }
  }
}

let lastMs = 0;
let lastStamp = "";
/** ISO timestamp, formatted once per millisecond however many requests share it. */
function timestamp(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastStamp = new Date(now).toISOString();
  }
  return lastStamp;
}
