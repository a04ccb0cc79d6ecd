import type { Database as Sqlite, Statement } from "bun:sqlite";

interface Job {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

const MAX_BATCH = 512;

/**
 * Group commit. Writes queued in the same event-loop turn run in one IMMEDIATE transaction; a failing job rolls
 * back alone (see flushNow). Every caller's promise settles only after the COMMIT, so an HTTP
 * answer is never sent for a change that is not durable. One commit per turn instead of one per request is what
 * lets SQLite keep up with the HTTP layer.
 */
export class WriteBatcher {
  private queue: Job[] = [];
  private scheduled = false;
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly rollback: Statement;
  private readonly savepoint: Statement;
  private readonly release: Statement;
  private readonly rollbackTo: Statement;

  constructor(private readonly sqlite: Sqlite) {
    this.begin = sqlite.prepare("BEGIN IMMEDIATE");
    this.commit = sqlite.prepare("COMMIT");
    this.rollback = sqlite.prepare("ROLLBACK");
    this.savepoint = sqlite.prepare("SAVEPOINT job");
    this.release = sqlite.prepare("RELEASE job");
    this.rollbackTo = sqlite.prepare("ROLLBACK TO job");
  }

  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (this.queue.length >= MAX_BATCH) this.flushNow();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flushNow());
      }
    });
  }

  flushNow(): void {
    this.scheduled = false;
    const jobs = this.queue;
    if (jobs.length === 0) return;
    this.queue = [];
    // Fast path: all jobs in one transaction without savepoints. Jobs almost never throw; when one does, the whole
    // batch is rolled back and replayed with a savepoint per job, so only the failing job loses its writes.
    // (Job functions are synchronous and write only to the database, so replaying them is safe.)
    const fast = this.runBatch(jobs, false);
    if (fast !== "retry") return;
    this.runBatch(jobs, true);
  }

  private runBatch(jobs: Job[], isolate: boolean): "done" | "retry" {
    try {
      this.begin.run();
    } catch (e) {
      for (const j of jobs) j.reject(e);
      return "done";
    }
    const results: { ok: boolean; value: unknown }[] = [];
    for (const job of jobs) {
      try {
        if (isolate) this.savepoint.run();
        const value = job.fn();
        if (isolate) this.release.run();
        results.push({ ok: true, value });
      } catch (e) {
        if (!isolate) {
          this.safeRollback();
          return "retry";
        }
        try {
          this.rollbackTo.run();
          this.release.run();
        } catch {}
        results.push({ ok: false, value: e });
      }
    }
    try {
      this.commit.run();
    } catch (e) {
      this.safeRollback();
      for (const j of jobs) j.reject(e);
      return "done";
    }
    jobs.forEach((j, i) => {
      const r = results[i]!;
      if (r.ok) j.resolve(r.value);
      else j.reject(r.value);
    });
    return "done";
  }

  private safeRollback(): void {
    try {
      this.rollback.run();
    } catch {}
  }
}
