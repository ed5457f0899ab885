import type { RedisClient } from "../redis/client.js";

/**
 * Announces that an API key was revoked, rotated or had its limits changed, over one
 * Redis pub/sub channel whose payload is the key's id. Every process listens, drops what
 * it cached about the key and re-checks the sockets opened with it. An announcement can
 * be lost (Redis down, a subscriber reconnecting); the one-second cache and the sockets'
 * periodic re-check bound the delay then.
 */
export class KeyChanges {
  private readonly listeners = new Set<(keyId: string) => void>();

  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient | null,
    private readonly channel: string,
    private readonly onError: (err: unknown) => void,
  ) {
    subscriber?.on("message", (ch: string, keyId: string) => {
      if (ch === this.channel) for (const fn of this.listeners) fn(keyId);
    });
  }

  /** Never throws: MariaDB already holds the change, and the fallbacks above cover a lost announcement. */
  async announce(keyId: string): Promise<void> {
    try {
      await this.publisher.publish(this.channel, keyId);
    } catch (err) {
      this.onError(err);
    }
  }

  /** Starts listening; a subscription that fails (Redis down at start) is retried when Redis is next ready. */
  listen(fn: (keyId: string) => void): void {
    this.listeners.add(fn);
    if (this.listeners.size > 1 || !this.subscriber) return;
    const subscriber = this.subscriber;
    const subscribe = () =>
      subscriber.subscribe(this.channel).catch((err: unknown) => {
        this.onError(err);
        subscriber.once("ready", subscribe);
      });
    void subscribe();
  }
}
