import { defineCommand } from "citty";
import { openContext } from "../bootstrap.ts";
import { configArg } from "../cli/common.ts";
import { startServer } from "./server.ts";

export const serveCommand = defineCommand({
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
        throw new Error(`cannot listen on ${ctx.config.server.hostname}:${ctx.config.server.port}: address already in use`);
      }
      throw new Error(`cannot listen on ${ctx.config.server.hostname}:${ctx.config.server.port}: ${err.message}`);
    }
    await new Promise<void>((resolve) => {
      const onSignal = (signal: string) => {
        ctx.log.info(`received ${signal}, shutting down`);
        running.stop(signal).then(resolve);
      };
      process.once("SIGTERM", () => onSignal("SIGTERM"));
      process.once("SIGINT", () => onSignal("SIGINT"));
    });
    process.exit(0);
  },
});
