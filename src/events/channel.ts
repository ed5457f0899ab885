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

  /** Most events a slow subscriber may have waiting before it is cut off. */
  constructor(private readonly maxBuffered = 10_000) {}

  push(value: T): void {
    if (this.closed) return;
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w({ value, done: false });
    } else if (this.buffer.length >= this.maxBuffered) {
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
