/**
 * A push-fed async iterator for one subscriber. Unlike an async generator, return()
 * takes effect at once even while a next() is waiting, so a client that unsubscribes
 * releases its listener immediately.
 */
export class EventChannel<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  private closed = false;
  private readonly cleanups: (() => void)[] = [];

  private readonly recent = new Set<string>();
  private roomWaiters: { below: number; resolve: (open: boolean) => void }[] = [];

  /**
   * @param opts.maxBuffered most events a slow subscriber may have waiting before it is cut off
   * @param opts.keyOf when given, a value whose key was pushed among the last
   *   `opts.remember` is dropped: at-least-once sources become exactly-once for the reader
   */
  constructor(private readonly opts: { maxBuffered?: number; keyOf?: (v: T) => string; remember?: number } = {}) {}

  push(value: T): void {
    if (this.closed) return;
    if (this.opts.keyOf) {
      const key = this.opts.keyOf(value);
      if (this.recent.has(key)) return;
      this.recent.add(key);
      if (this.recent.size > (this.opts.remember ?? 10_000)) this.recent.delete(this.recent.values().next().value!);
    }
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w({ value, done: false });
    } else if (this.buffer.length >= (this.opts.maxBuffered ?? 10_000)) {
      this.close();
    } else {
      this.buffer.push(value);
    }
  }

  /**
   * Resolves true once fewer than `below` values wait to be read, false if the channel
   * closes first: a producer that pushes a lot (a catch-up) waits for its reader with it.
   */
  room(below: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.buffer.length < below) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.roomWaiters.push({ below, resolve });
    });
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.cleanups.push(fn);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.length = 0;
    for (const fn of this.cleanups.splice(0)) fn();
    for (const w of this.roomWaiters.splice(0)) w.resolve(false);
    const w = this.waiting;
    this.waiting = null;
    w?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffer.length) {
      const value = this.buffer.shift()!;
      if (this.roomWaiters.length) {
        const ready = this.roomWaiters.filter((w) => this.buffer.length < w.below);
        this.roomWaiters = this.roomWaiters.filter((w) => !ready.includes(w));
        for (const w of ready) w.resolve(true);
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
