/**
 * Bounds the password hashing a server does at once. Each argon2id hash holds 64 MiB and ~140 ms of a core, so an
 * unbounded flood of registrations would take all memory and make everyone wait. At most `concurrency` hashes run;
 * at most `queue` more wait their turn; anyone beyond that is told to come back (the caller answers 503) before any
 * work is done or anything is held.
 *
 * A caller first `admit()`s (cheap, synchronous: the answer is known before the invite's use is reserved), then
 * either `run()`s its hash or `cancel()`s the ticket. A ticket counts from admission, so the bound holds for
 * everything between the reservation and the hash.
 */
export interface HashTicket {
  run<T>(work: () => Promise<T>): Promise<T>;
  cancel(): void;
}

export class HashQueue {
  private admitted = 0;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly concurrency: number,
    readonly queue: number,
  ) {}

  /** Hashes running or waiting right now (for metrics). */
  get depth(): number {
    return this.admitted;
  }

  /** A ticket, or null when concurrency + queue tickets are out already. */
  admit(): HashTicket | null {
    if (this.admitted >= this.concurrency + this.queue) return null;
    this.admitted++;
    let state: "new" | "used" = "new";
    const settle = () => {
      if (state === "used") return false;
      state = "used";
      return true;
    };
    return {
      run: async <T>(work: () => Promise<T>): Promise<T> => {
        if (!settle()) throw new Error("hash ticket used twice");
        // A finished hash hands its slot straight to the next waiter, so no newcomer can slip in between.
        if (this.running < this.concurrency) this.running++;
        else await new Promise<void>((resolve) => this.waiting.push(resolve));
        try {
          return await work();
        } finally {
          this.admitted--;
          const next = this.waiting.shift();
          if (next) next();
          else this.running--;
        }
      },
      cancel: () => {
        if (settle()) this.admitted--;
      },
    };
  }
}
