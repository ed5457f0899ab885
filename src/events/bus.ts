import type { RedisClient } from "../redis/client.js";
import type { Keys } from "../redis/keys.js";
import type { QueueScripts } from "../redis/scripts.js";
import { EventType, reviveEvent, toWire, type MessageEvent, type WireEvent } from "./message-event.js";

type Listener = (event: MessageEvent) => void;

/**
 * Message events over Redis pub/sub, one channel per tenant, so a waiter on any
 * process sees what any other process caused. Each process holds one subscriber
 * connection and fans events out to its local listeners. On a Redis Cluster, PUBLISH
 * reaches the subscribers of every node (the cluster bus forwards it), so the one
 * subscriber connection may sit on any node; ioredis moves it, with its channels, to
 * another node when that one fails.
 */
/** A channel's listeners: those that want every event, and those that want one correlation id's. */
type Listeners = { all: Set<Listener>; byCorrelation: Map<string, Set<Listener>>; size: number };

export class EventBus {
  private readonly listeners = new Map<string, Listeners>();
  private readonly subscribed = new Map<string, Promise<unknown>>();
  /** Channels whose last PUBLISH reached no subscriber (see publish). */
  private readonly quiet = new Set<string>();

  constructor(
    private readonly publisher: RedisClient,
    private readonly scripts: QueueScripts,
    private readonly subscriber: RedisClient,
    private readonly keys: Keys,
    private readonly onError: (err: unknown) => void,
  ) {
    subscriber.on("message", (channel: string, payload: string) => this.dispatch(channel, payload));
  }

  /**
   * Sends committed events to every process's subscribers. Completions are noted as
   * delivered to Redis, so the relay can tell which committed ones never were (the
   * process died in between) and send those (completion-relay.ts).
   *
   * A channel whose last PUBLISH reached no one is asked first whether anyone subscribes
   * now, and while no one does its events are neither serialized nor sent: a queue
   * nobody watches pays one small round trip per batch instead: 7% less server CPU per
   * message in benchmark scenario 1, where nobody listens (four interleaved pairs;
   * docs/performance.md, log 2026-11-30 06:48). A subscription confirmed after the
   * question is asked begins after these events were committed, so it does not miss them
   * (messageCompleted catches up from MariaDB). On a cluster, a node counts only its own
   * subscribers, so there every batch is published.
   */
  async publish(tenantId: string, events: MessageEvent[]): Promise<void> {
    if (!events.length) return;
    const channel = this.keys.events(tenantId);
    const completions = events.filter((e) => e.type === EventType.completed).map((e) => e.eventId);
    if (this.quiet.has(channel) && !this.publisher.isCluster && !(await this.scripts.unheard(channel, Date.now(), completions))) return;
    const payload = JSON.stringify(events.map(toWire));
    const received = completions.length ? await this.scripts.announce(channel, payload, Date.now(), completions) : await this.publisher.publish(channel, payload);
    if (received) this.quiet.delete(channel);
    else this.quiet.add(channel);
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

  /**
   * Resolves once Redis confirms the subscription: events published after that arrive.
   * With a correlation id, `fn` sees only that chain's events: completion waiters are
   * found by key, so an event costs the same with 10 or 10,000 of them waiting
   * (benchmark scenario 4 on the bus alone: all 10,000 delivered in 2.5 s; handing every
   * event to every listener of the tenant takes 6.3 s).
   */
  async listen(tenantId: string, fn: Listener, correlationId?: string): Promise<() => void> {
    const channel = this.keys.events(tenantId);
    let l = this.listeners.get(channel);
    if (!l) this.listeners.set(channel, (l = { all: new Set(), byCorrelation: new Map(), size: 0 }));
    const set = correlationId === undefined ? l.all : l.byCorrelation.get(correlationId) ?? new Set<Listener>();
    if (correlationId !== undefined) l.byCorrelation.set(correlationId, set);
    set.add(fn);
    l.size++;
    const off = () => this.unlisten(channel, set, fn, correlationId);
    let confirm = this.subscribed.get(channel);
    if (!confirm) {
      confirm = this.subscriber.subscribe(channel);
      this.subscribed.set(channel, confirm);
      confirm.catch(() => this.subscribed.delete(channel));
    }
    try {
      await confirm;
    } catch (err) {
      off();
      throw err;
    }
    return off;
  }

  private unlisten(channel: string, set: Set<Listener>, fn: Listener, correlationId?: string): void {
    const l = this.listeners.get(channel);
    if (!l || !set.delete(fn)) return;
    if (correlationId !== undefined && !set.size) l.byCorrelation.delete(correlationId);
    if (--l.size) return;
    this.listeners.delete(channel);
    this.subscribed.delete(channel);
    this.subscriber.unsubscribe(channel).catch(this.onError);
  }

  private dispatch(channel: string, payload: string): void {
    const l = this.listeners.get(channel);
    if (!l?.size) return;
    let events: MessageEvent[];
    try {
      events = (JSON.parse(payload) as WireEvent[]).map(reviveEvent);
    } catch (err) {
      this.onError(err);
      return;
    }
    for (const e of events) {
      for (const fn of l.all) fn(e);
      const keyed = e.correlationId === null ? undefined : l.byCorrelation.get(e.correlationId);
      if (keyed) for (const fn of keyed) fn(e);
    }
  }
}
