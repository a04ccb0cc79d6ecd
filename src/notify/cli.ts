import { defineCommand } from "citty";
import { CliError, configArg, formatTable, isoTime, jsonArg, printJson, withContext, withReadOnlyContext, strictCommand } from "../cli/common.ts";
import { CLI_ORIGIN } from "../context.ts";
import { DeliveryError, endpointSummaries, LIST_LIMIT, listDeliveries, retryDeliveries, type Delivery } from "./service.ts";

const listArgs = { all: { type: "boolean", description: "Also show delivered notifications" }, ...jsonArg, ...configArg } as const;

function lastResult(d: Delivery): string {
  if (d.status === "delivered") return d.lastStatus !== null ? String(d.lastStatus) : "ok";
  return d.lastError ?? (d.lastStatus !== null ? String(d.lastStatus) : "-");
}

const list = strictCommand({
  meta: { name: "list", description: "Show notification endpoints and their pending and failed deliveries" },
  args: listArgs,
  run: ({ args }) => {
    return withReadOnlyContext(args, (ctx) => {
      const endpoints = endpointSummaries(ctx);
      const deliveries = listDeliveries(ctx, { all: Boolean(args.all) });
      if (args.json) {
        return printJson({
          endpoints: endpoints.map((e) => ({
            url: e.url,
            configured: e.configured,
            disabled: e.disabledAt !== null,
            disabled_at: e.disabledAt === null ? null : isoTime(e.disabledAt),
            disabled_reason: e.disabledReason,
            pending: e.pending,
            failed: e.failed,
          })),
          deliveries: deliveries.map((d) => ({
            id: d.id,
            message_id: d.messageId,
            event: d.eventType,
            endpoint: d.endpointUrl,
            status: d.status,
            attempts: d.attempts,
            created_at: isoTime(d.createdAt),
            next_attempt_at: d.status === "pending" ? isoTime(d.nextAttemptAt) : null,
            last_attempt_at: d.lastAttemptAt === null ? null : isoTime(d.lastAttemptAt),
            last_status: d.lastStatus,
            last_error: d.lastError,
            delivered_at: d.deliveredAt === null ? null : isoTime(d.deliveredAt),
          })),
        });
      }
      if (endpoints.length === 0) {
        process.stderr.write("no notification endpoints are configured ([[notify]])\n");
        return;
      }
      process.stdout.write(
        formatTable(
          ["ENDPOINT", "STATE", "PENDING", "FAILED"],
          endpoints.map((e) => [
            e.url,
            e.disabledAt !== null ? `disabled since ${isoTime(e.disabledAt)} (${e.disabledReason ?? "?"})` : e.configured ? "enabled" : "not configured",
            String(e.pending),
            String(e.failed),
          ]),
        ),
      );
      if (deliveries.length === 0) {
        process.stdout.write(args.all ? "\nno deliveries\n" : "\nno pending or failed deliveries\n");
        return;
      }
      process.stdout.write("\n");
      process.stdout.write(
        formatTable(
          ["ID", "EVENT", "STATUS", "ATTEMPTS", "LAST RESULT", "NEXT ATTEMPT", "CREATED", "ENDPOINT"],
          deliveries.map((d) => [
            String(d.id),
            d.eventType,
            d.status,
            String(d.attempts),
            lastResult(d),
            d.status === "pending" ? isoTime(d.nextAttemptAt) : "-",
            isoTime(d.createdAt),
            d.endpointUrl,
          ]),
        ),
      );
      if (deliveries.length === LIST_LIMIT) process.stderr.write(`(only the newest ${LIST_LIMIT} are shown)\n`);
    });
  },
});

const retryArgs = {
  id: { type: "positional", required: false, description: "Delivery ID (from `invited webhooks list`)" },
  all: { type: "boolean", description: "Requeue every failed delivery" },
  ...configArg,
} as const;

const retry = strictCommand({
  meta: { name: "retry", description: "Requeue a failed (or pending) delivery, or every failed one, and re-enable its endpoint" },
  args: retryArgs,
  run: ({ args }) => {
    const id = args.id as string | undefined;
    if (id !== undefined && args.all) throw new CliError("give a delivery ID or --all, not both");
    if (id === undefined && !args.all) throw new CliError("give a delivery ID or --all");
    if (id !== undefined && !/^[1-9]\d{0,15}$/.test(id)) throw new CliError(`not a delivery ID: ${JSON.stringify(id)}`);
    return withContext(args, async (ctx) => {
      try {
        const n = await retryDeliveries(ctx, CLI_ORIGIN, id !== undefined ? { id: Number(id) } : { all: true });
        process.stdout.write(`requeued ${n} deliver${n === 1 ? "y" : "ies"}\n`);
      } catch (e) {
        if (e instanceof DeliveryError) throw new CliError(e.message);
        throw e;
      }
    });
  },
});

export const webhooksCommand = defineCommand({
  meta: { name: "webhooks", description: "Inspect and retry outgoing notification webhooks" },
  subCommands: { list, retry },
});
