import type { Redis } from "ioredis";
import type { Keys } from "../redis/keys.js";
import { EventType, reviveEvent, type MessageEvent } from "../domain/message-events.js";

type Listener = (event: MessageEvent) => void;

/**
 * Message events over Redis pub/sub, one channel per tenant, so a waiter on any
 * process sees what any other process caused. Each process holds one subscriber
 * connection and fans events out to its local listeners.
 */
export class EventBus {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly subscribed = new Map<string, Promise<unknown>>();

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly keys: Keys,
    private readonly onError: (err: unknown) => void,
  ) {
    subscriber.on("message", (channel: string, payload: string) => this.dispatch(channel, payload));
  }

  async publish(tenantId: string, events: MessageEvent[]): Promise<void> {
    if (!events.length) return;
    await this.publisher.publish(this.keys.events(tenantId), JSON.stringify(events));
    // Completions are noted as delivered to Redis, so the relay can tell which committed
    // ones never were (the process died in between) and send those (completion-relay.ts).
    const completions = events.filter((e) => e.type === EventType.completed);
    if (completions.length) {
      await this.publisher.zadd(this.keys.publishedCompletions, ...completions.flatMap((e) => [Date.now(), e.eventId]));
    }
  }

  /** Which of these completion event ids were already published. */
  async alreadyPublished(eventIds: string[]): Promise<boolean[]> {
    if (!eventIds.length) return [];
    const scores = await this.publisher.zmscore(this.keys.publishedCompletions, ...eventIds);
    return scores.map((s) => s !== null);
  }

  /** Forgets published ids older than `before` (ms): the relay never looks that far back. */
  async forgetPublished(before: number): Promise<void> {
    await this.publisher.zremrangebyscore(this.keys.publishedCompletions, "-inf", before);
  }

  /** Resolves once Redis confirms the subscription: events published after that arrive. */
  async listen(tenantId: string, fn: Listener): Promise<() => void> {
    const channel = this.keys.events(tenantId);
    let set = this.listeners.get(channel);
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(fn);
    let confirm = this.subscribed.get(channel);
    if (!confirm) {
      confirm = this.subscriber.subscribe(channel);
      this.subscribed.set(channel, confirm);
      confirm.catch(() => this.subscribed.delete(channel));
    }
    try {
      await confirm;
    } catch (err) {
      set.delete(fn);
      throw err;
    }
    return () => this.unlisten(channel, fn);
  }

  private unlisten(channel: string, fn: Listener): void {
    const set = this.listeners.get(channel);
    if (!set?.delete(fn) || set.size) return;
    this.listeners.delete(channel);
    this.subscribed.delete(channel);
    this.subscriber.unsubscribe(channel).catch(this.onError);
  }

  private dispatch(channel: string, payload: string): void {
    const set = this.listeners.get(channel);
    if (!set?.size) return;
    let events: MessageEvent[];
    try {
      events = (JSON.parse(payload) as MessageEvent[]).map(reviveEvent);
    } catch (err) {
      this.onError(err);
      return;
    }
    for (const e of events) for (const fn of set) fn(e);
  }
}
