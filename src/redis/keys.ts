/**
 * Every Redis key and channel name is built here. Keys of one scope share the hash tag
 * {s:<scopeId>}, so a script may touch every queue of a scope and still run on one
 * Redis Cluster slot.
 */
export type QueueKeys = {
  /** ZSET id → order score: claimable now */
  pending: string;
  /** ZSET id → visible-at ms: published with a delay (or backing off), not claimable yet */
  delayed: string;
  /** HASH id → order score of each delayed id, used when it is promoted */
  scores: string;
  /** ZSET id → claim expiry ms: the live claims */
  claims: string;
  /** HASH id → claimToken of the live claim (the lock) */
  locks: string;
  /** HASH reservation id → "admitted:dropsOwed": room taken by publishes not yet enqueued (maxDepth) */
  reserved: string;
  /** ZSET reservation id → ms, so a reservation whose publisher died lapses */
  reservedAt: string;
};

export type Keys = ReturnType<typeof createKeys>;

export function createKeys(prefix: string) {
  return {
    queue(scopeId: string, queueId: string, groupId?: string): QueueKeys {
      // a consumer group of a BROADCAST queue has the same structures of its own
      const base = `${prefix}:{s:${scopeId}}:q:${queueId}${groupId ? `:g:${groupId}` : ""}`;
      return {
        pending: `${base}:pending`,
        delayed: `${base}:delayed`,
        scores: `${base}:scores`,
        claims: `${base}:claims`,
        locks: `${base}:locks`,
        reserved: `${base}:reserved`,
        reservedAt: `${base}:reserved-at`,
      };
    },
    /** Pub/sub channel carrying one tenant's message events. */
    events(tenantId: string): string {
      return `${prefix}:events:${tenantId}`;
    },
    /** ZSET completion eventId → ms it was published (see completion-relay.ts). */
    publishedCompletions: `${prefix}:events:completions-published`,
    /** Lease that lets one process at a time run an agent's sweep. */
    agentLease(agent: string): string {
      return `${prefix}:agent:${agent}:lease`;
    },
    /** Set once Redis agrees with MariaDB; its absence means Redis lost its state. */
    sentinel: `${prefix}:sentinel`,
    /** Where an agent keeps how far it has got, shared by whichever process sweeps next. */
    agentMark(agent: string): string {
      return `${prefix}:agent:${agent}:mark`;
    },
    /**
     * Rate-limit buckets (GCRA: each holds its theoretical arrival time, ms) of an API key
     * and of its tenant. They share the tenant's hash tag {t:<tenantId>}, so one script
     * takes from both on one cluster slot.
     */
    rateLimit(tenantId: string, keyId: string): { key: string; tenant: string } {
      const base = `${prefix}:{t:${tenantId}}:rate`;
      return { key: `${base}:key:${keyId}`, tenant: `${base}:tenant` };
    },
    /** Pub/sub channel: an API key was revoked, rotated or changed; the payload is its id. */
    apiKeyChanges: `${prefix}:api-keys:changed`,
    /** Pattern matching every key this deployment owns (tests clean up with it). */
    all: `${prefix}:*`,
  };
}
