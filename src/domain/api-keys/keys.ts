import { createHash, randomBytes } from "node:crypto";
import type { Db } from "../../db/client.js";
import type { ApiKey } from "../../generated/prisma/client.js";
import { uuidv7 } from "../../ids.js";
import { ValidationError } from "../../errors.js";
import { PERMISSIONS, isPermission, type Actor, type Permission } from "../actor.js";
import type { Clock } from "../deps.js";
import { defaultBurst, type RateLimit } from "./rate-limits.js";

export const BOOTSTRAP_TENANT = "default";
const SECRET_PREFIX = "sqk_";
/**
 * How long a process trusts what it looked up about a secret. Revocations and rotations
 * are also announced over Redis (key-changes.ts), which drops the entry at once; this
 * bound is what holds when an announcement is lost.
 */
const CACHE_TTL_MS = 1000;
/** Most secret hashes one re-check query asks about (an IN list). */
const RECHECK_CHUNK = 1000;

export const hashSecret = (secret: string): string => createHash("sha256").update(secret).digest("hex");

export function newSecret(): string {
  return SECRET_PREFIX + randomBytes(30).toString("base64url");
}

/** Finds the tenant by slug, creating it; safe when several processes race. */
export async function ensureTenant(db: Db, slug: string): Promise<string> {
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(slug)) {
    throw new ValidationError([{ field: "tenant", message: "lowercase letters, digits, - and _, up to 64" }]);
  }
  await db.$executeRaw`INSERT INTO tenants (id, slug, createdAt) VALUES (${uuidv7()}, ${slug}, NOW(3))
    ON DUPLICATE KEY UPDATE slug = slug`;
  const tenant = await db.tenant.findUniqueOrThrow({ where: { slug } });
  return tenant.id;
}

export function parsePermissions(list: string): Permission[] {
  const perms = list.split(",").map((p) => p.trim()).filter(Boolean);
  const bad = perms.filter((p) => !isPermission(p));
  if (bad.length || perms.length === 0) {
    throw new ValidationError([
      { field: "permissions", message: `expected a comma-separated subset of ${PERMISSIONS.join(",")}` },
    ]);
  }
  return [...new Set(perms)] as Permission[];
}

/** A key's own rate limit; null when it follows the deployment default. */
export function ownRateLimit(key: Pick<ApiKey, "rateLimitPerS" | "rateLimitBurst">): RateLimit | null {
  if (key.rateLimitPerS === null) return null;
  return { perSecond: key.rateLimitPerS, burst: key.rateLimitBurst ?? defaultBurst(key.rateLimitPerS) };
}

/** Creates a key and returns its secret: the only time the secret is ever seen. */
export async function insertApiKey(
  db: Db,
  tenantId: string,
  fields: { permissions: Permission[]; name?: string | null; rateLimit?: RateLimit | null },
): Promise<{ key: ApiKey; secret: string }> {
  const secret = newSecret();
  const key = await db.apiKey.create({
    data: {
      id: uuidv7(),
      tenantId,
      secretHash: hashSecret(secret),
      permissions: fields.permissions.join(","),
      name: fields.name ?? null,
      rateLimitPerS: fields.rateLimit?.perSecond ?? null,
      rateLimitBurst: fields.rateLimit?.burst ?? null,
    },
  });
  return { key, secret };
}

/** Creates a key of the tenant (made if missing) and returns its secret, once. */
export async function createApiKey(
  db: Db,
  tenantSlug: string,
  permissions: Permission[],
): Promise<{ id: string; tenantId: string; secret: string }> {
  const tenantId = await ensureTenant(db, tenantSlug);
  const { key, secret } = await insertApiKey(db, tenantId, { permissions });
  return { id: key.id, tenantId, secret };
}

/** Makes sure `secret` is a live key of the default tenant holding every permission. */
export async function ensureBootstrapKey(db: Db, secret: string): Promise<void> {
  const tenantId = await ensureTenant(db, BOOTSTRAP_TENANT);
  await db.$executeRaw`INSERT INTO api_keys (id, tenantId, secretHash, permissions, createdAt)
    VALUES (${uuidv7()}, ${tenantId}, ${hashSecret(secret)}, ${PERMISSIONS.join(",")}, NOW(3))
    ON DUPLICATE KEY UPDATE tenantId = VALUES(tenantId), permissions = VALUES(permissions), revokedAt = NULL`;
}

/** What a presented secret stands for: who calls, the key's own rate limit, and the secret's hash. */
export type VerifiedKey = { actor: Actor; rateLimit: RateLimit | null; secretHash: string };

type Cached = { key: VerifiedKey | null; until: number };

/** Whether a secret nobody here knows may be looked up now, and where to note that it was not found. */
export type LookupGate = { mayLookUp(): boolean; notFound(): void };

/** Secrets remembered, either way; past this the oldest are forgotten first. */
const MAX_KNOWN = 100_000;
const MAX_UNKNOWN = 10_000;

/**
 * Turns a presented secret into the key it belongs to, or null when unknown, revoked,
 * or the secret before a rotation whose grace has ended; "throttled" when the secret is
 * not one this process knows and the gate says no more lookups now. Keys are remembered
 * apart from secrets that were not found, so a flood of made-up secrets (more than
 * 10,000 of them cleared one shared cache) never evicts a real key, and a real key is
 * looked up again when its entry is stale whatever the gate says.
 */
export class ApiKeyVerifier {
  private readonly known = new Map<string, Cached>();
  private readonly unknown = new Map<string, number>();
  /** Bumped by forget(), so a lookup that raced with it does not cache what it read before. */
  private generation = 0;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock = Date.now,
  ) {}

  async verify(secret: string, gate?: LookupGate): Promise<VerifiedKey | null | "throttled"> {
    const now = this.clock();
    const hash = hashSecret(secret);
    const hit = this.known.get(hash);
    if (hit && hit.until > now) return hit.key;
    if (!hit) {
      if ((this.unknown.get(hash) ?? 0) > now) return null;
      if (gate && !gate.mayLookUp()) return "throttled";
    }
    const generation = this.generation;
    const { key, until } = await this.lookup(hash, now);
    if (!key && !hit) gate?.notFound();
    if (generation === this.generation) {
      const fresh = Math.min(until, now + CACHE_TTL_MS);
      if (key) remember(this.known, hash, { key, until: fresh }, MAX_KNOWN);
      else {
        this.known.delete(hash);
        remember(this.unknown, hash, fresh, MAX_UNKNOWN);
      }
    }
    return key;
  }

  /** Drops what this process cached about a key: it was revoked, rotated or changed. */
  forget(keyId: string): void {
    this.generation++;
    for (const [hash, c] of this.known) if (c.key?.actor.keyId === keyId) this.known.delete(hash);
  }

  /** Which of these secret hashes still authenticate; one query per thousand (open sockets re-check with it). */
  async stillValid(hashes: string[]): Promise<Set<string>> {
    const now = this.clock();
    const wanted = new Set(hashes);
    const valid = new Set<string>();
    for (let i = 0; i < hashes.length; i += RECHECK_CHUNK) {
      const chunk = hashes.slice(i, i + RECHECK_CHUNK);
      const rows = await this.db.apiKey.findMany({
        where: { revokedAt: null, OR: [{ secretHash: { in: chunk } }, { previousSecretHash: { in: chunk } }] },
        select: { secretHash: true, previousSecretHash: true, previousSecretExpiresAt: true },
      });
      for (const r of rows) {
        if (wanted.has(r.secretHash)) valid.add(r.secretHash);
        if (r.previousSecretHash && wanted.has(r.previousSecretHash) && (r.previousSecretExpiresAt?.getTime() ?? 0) > now) {
          valid.add(r.previousSecretHash);
        }
      }
    }
    return valid;
  }

  /** The key whose current secret, or previous one still in its grace, has this hash; and until when that holds. */
  private async lookup(hash: string, now: number): Promise<Cached> {
    // one statement for both (each column has its unique index)
    const found = await this.db.apiKey.findMany({ where: { OR: [{ secretHash: hash }, { previousSecretHash: hash }] }, take: 2 });
    const current = found.find((k) => k.secretHash === hash);
    if (current) return { key: current.revokedAt ? null : verified(current, hash), until: Infinity };
    const previous = found.find((k) => k.previousSecretHash === hash);
    const graceEnds = previous?.previousSecretExpiresAt?.getTime() ?? 0;
    if (!previous || previous.revokedAt || graceEnds <= now) return { key: null, until: Infinity };
    return { key: verified(previous, hash), until: graceEnds };
  }
}

/** Sets an entry as the newest of a map that keeps at most `max`, the oldest going first. */
function remember<V>(map: Map<string, V>, hash: string, value: V, max: number): void {
  map.delete(hash);
  map.set(hash, value);
  if (map.size > max) map.delete(map.keys().next().value!);
}

function verified(key: ApiKey, secretHash: string): VerifiedKey {
  return {
    actor: { tenantId: key.tenantId, keyId: key.id, permissions: new Set(key.permissions.split(",") as Permission[]) },
    rateLimit: ownRateLimit(key),
    secretHash,
  };
}
