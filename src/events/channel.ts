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

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.cleanups.push(fn);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.length = 0;
    for (const fn of this.cleanups.splice(0)) fn();
    const w = this.waiting;
    this.waiting = null;
    w?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffer.length) return Promise.resolve({ value: this.buffer.shift()!, done: false });
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
