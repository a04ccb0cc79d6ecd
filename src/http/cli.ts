import { openContext } from "../bootstrap.ts";
import { configArg, strictCommand } from "../cli/common.ts";
import { startServer } from "./server.ts";

export const serveCommand = strictCommand({
  meta: { name: "serve", description: "Run the HTTP server" },
  args: { ...configArg },
  async run({ args }) {
    const ctx = openContext(args.config);
    let running;
    try {
      running = startServer(ctx);
    } catch (e) {
      ctx.db.close();
      const err = e as NodeJS.ErrnoException;
      if (err.code === "EADDRINUSE" || /in use/i.test(err.message)) {
        throw new Error(
          `cannot listen on ${ctx.config.server.hostname}:${ctx.config.server.port}: address already in use (choose another with [server] listen in the config file, or INVITED_LISTEN=ADDRESS:PORT)`,
        );
      }
      throw new Error(`cannot listen on ${ctx.config.server.hostname}:${ctx.config.server.port}: ${err.message}`);
    }
    await new Promise<void>((resolve) => {
      let stopping = false;
      const onSignal = (signal: string) => {
        // Keep the handlers installed: a repeated signal (a second Ctrl-C, a supervisor retrying) must not kill the
        // process halfway through closing the database. shutdown_timeout already bounds the stop.
        if (stopping) {
          ctx.log.info(`received ${signal} again; still shutting down (at most server.shutdown_timeout)`);
          return;
        }
        stopping = true;
        ctx.log.info(`received ${signal}, shutting down`);
        running.stop(signal).then(resolve);
      };
      process.on("SIGTERM", () => onSignal("SIGTERM"));
      process.on("SIGINT", () => onSignal("SIGINT"));
    });
    process.exit(0);
  },
});
