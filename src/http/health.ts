import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";
import { storageFailureReason } from "../metrics/index.ts";

const HEADERS = { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" };

/**
 * Liveness plus a real read of the database file, and a write probe while writes are failing. The answer names only
 * the kind of problem (no paths); the details go to the server log, once per change.
 */
export function health(ctx: AppContext) {
  let lastLogged = "";
  return new Elysia({ name: "health" }).get("/healthz", async () => {
    const problem = await ctx.db.health();
    if (problem === null) {
      lastLogged = "";
      return new Response("ok\n", { status: 200, headers: HEADERS });
    }
    if (problem.message !== lastLogged) ctx.log.error(`health check: database unavailable: ${problem.message}`);
    lastLogged = problem.message;
    return new Response(`database unavailable (${storageFailureReason(problem)})\n`, { status: 503, headers: HEADERS });
  });
}
