import type { Db } from "./index.ts";
import type { Logger } from "../lib/log.ts";
import { metrics } from "../metrics/index.ts";

/**
 * WAL checkpoints on a thread of their own. SQLite's automatic checkpoint runs inside the commit that crosses
 * `wal_autocheckpoint`, on the server's only JS thread, and copying ~16 MB of WAL into the database file stalls every
 * request behind it: it was most of invite creation's p99 under load. Here a second connection, on a worker thread,
 * runs a PASSIVE checkpoint shortly after writes: it copies what it can without blocking the writer, so the commit's
 * own automatic checkpoint (left on, and it keeps the WAL bounded if this thread falls behind) finds little or nothing
 * left to copy.
 */
export interface Checkpointer {
  /** Waits for a running checkpoint, closes the worker's connection (so the last close can remove the WAL) and ends the thread. */
  stop(): Promise<void>;
}

/** After a commit, wait this long so one checkpoint covers the writes that follow it, rather than one per commit. */
const DELAY_MS = 50;

// Loaded from a Blob so the compiled binary needs no second entry point. It only ever runs
// `PRAGMA wal_checkpoint(PASSIVE)`, which never waits for the busy handler.
const WORKER_SOURCE = `
import { Database } from "bun:sqlite";
let db = null;
self.onmessage = ({ data }) => {
  try {
    if (data.op === "open") {
      db = new Database(data.path, { readwrite: true, create: false });
    } else if (data.op === "checkpoint") {
      const r = db.query("PRAGMA wal_checkpoint(PASSIVE)").get();
      postMessage({ op: "checkpoint", busy: r.busy, log: r.log, checkpointed: r.checkpointed });
      return;
    } else if (data.op === "close") {
      if (db) db.close();
      db = null;
    }
    postMessage({ op: data.op });
  } catch (e) {
    postMessage({ op: data.op, error: String(e && e.message || e) });
  }
};
`;

type Reply = { op: string; error?: string; busy?: number; log?: number; checkpointed?: number };

export function startCheckpointer(db: Db, log: Logger): Checkpointer {
  if (db.path === ":memory:" || db.path === "") return { stop: async () => {} };
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: "application/javascript" }));
  const worker = new Worker(url);
  worker.unref();
  let broken = false;
  let running = false;
  let again = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let lastError = "";
  const waiting = new Map<string, () => void>();

  const send = (op: string) => {
    running = op === "checkpoint";
    worker.postMessage({ op, path: db.path });
  };
  const kick = () => {
    if (broken) return;
    if (running) again = true;
    else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        send("checkpoint");
      }, DELAY_MS);
      timer.unref?.();
    }
  };
  worker.onmessage = ({ data }: MessageEvent<Reply>) => {
    if (data.op === "checkpoint") running = false;
    if (data.op === "open" && data.error) broken = true;
    if (data.error) {
      metrics.dbCheckpoints.inc({ result: "error" });
      // One warning per distinct error, not one per checkpoint: the commit's own checkpoint still bounds the WAL.
      if (data.error !== lastError) log.warn(`background checkpoint failed: ${data.error}`);
      lastError = data.error;
    } else if (data.op === "checkpoint") {
      lastError = "";
      metrics.dbCheckpoints.inc({ result: data.busy ? "busy" : "done" });
      metrics.dbWalFrames.set(data.log ?? 0);
      metrics.dbWalFramesCheckpointed.set(data.checkpointed ?? 0);
    }
    waiting.get(data.op)?.();
    waiting.delete(data.op);
    if (data.op === "checkpoint" && again) {
      again = false;
      kick();
    }
  };
  let dead = false;
  worker.onerror = (e) => {
    broken = dead = true;
    running = false;
    for (const wake of waiting.values()) wake();
    waiting.clear();
    log.warn(`background checkpoint thread stopped: ${e.message}; checkpoints now run inside commits`);
  };
  send("open");
  const unsubscribe = db.onCommit(kick);

  const reply = (op: string, ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      waiting.set(op, () => {
        clearTimeout(t);
        resolve();
      });
    });

  return {
    async stop() {
      unsubscribe();
      if (timer) clearTimeout(timer);
      timer = null;
      broken = true;
      // A dead thread answers nothing: do not spend the shutdown budget waiting for it.
      if (!dead && running) await reply("checkpoint", 10_000);
      if (!dead) {
        const closed = reply("close", 5_000);
        worker.postMessage({ op: "close" });
        await closed;
      }
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
}
