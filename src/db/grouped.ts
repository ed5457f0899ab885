/**
 * Group commit for one kind of statement: what callers hand in while one is in flight
 * goes out together in the next, so N concurrent operations cost about one round trip
 * (and one commit) instead of N. Each caller is answered only once the statement
 * carrying its items has run, so nothing is acknowledged before it is written.
 * By default one statement of a kind runs at a time: measured on benchmark scenarios 1
 * and 2, two or four at once make smaller groups and no more messages per second
 * (1,190–1,475 and 401–444 msg/s with one, against 1,190 / 401 with four). Statements
 * that wait on disk reads gain from a few at once (claims, message-statements.ts).
 * Redis needs none of this: ioredis auto-pipelining already sends a tick's commands in
 * one write (grouping the event PUBLISHes this way is no better: 321/407 against
 * 323/411 msg/s).
 *
 * `run` gets the items of every waiting caller, in order, and returns one result per
 * item. If a grouped run fails, each caller's items run again alone, so an error reaches
 * only the caller it belongs to.
 */
export class Grouped<I, O> {
  private queue: Array<{ items: I[]; resolve: (out: O[]) => void; reject: (err: unknown) => void }> = [];
  private inFlight = 0;

  /** @param maxInFlight groups of this kind that may run at once (see the class comment) */
  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly maxInFlight = 1,
  ) {}

  submit(items: I[]): Promise<O[]> {
    if (!items.length) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      // the first caller waits one turn of the event loop for the others of this turn
      if (this.inFlight < this.maxInFlight && this.queue.length === 1) setImmediate(() => this.next());
    });
  }

  private next(): void {
    if (!this.queue.length || this.inFlight >= this.maxInFlight) return;
    const callers = this.queue;
    this.queue = [];
    this.inFlight++;
    void this.runGroup(callers).finally(() => {
      this.inFlight--;
      this.next();
    });
  }

  private async runGroup(callers: Grouped<I, O>["queue"]): Promise<void> {
    if (callers.length === 1) {
      const c = callers[0]!;
      return this.run(c.items).then(c.resolve, c.reject);
    }
    let out: O[];
    try {
      out = await this.run(callers.flatMap((c) => c.items));
    } catch {
      await Promise.all(callers.map((c) => this.run(c.items).then(c.resolve, c.reject)));
      return;
    }
    let at = 0;
    for (const c of callers) c.resolve(out.slice(at, (at += c.items.length)));
  }
}
