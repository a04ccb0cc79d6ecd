import { Elysia } from "elysia";
import type { AppContext } from "../context.ts";

/** Liveness plus a real read of the database file. */
export function health(ctx: AppContext) {
  return new Elysia({ name: "health" }).get("/healthz", () => {
    try {
      ctx.db.sqlite.query("SELECT count(*) FROM __drizzle_migrations").get();
      return new Response("ok\n", { status: 200, headers: { "Content-Type": "text/plain", "Cache-Control": "no-store" } });
    } catch {
      return new Response("database unavailable\n", { status: 503, headers: { "Content-Type": "text/plain", "Cache-Control": "no-store" } });
    }
  });
}
