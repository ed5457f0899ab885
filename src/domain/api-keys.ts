import { createHash, randomBytes } from "node:crypto";
import type { Db } from "../db/client.js";
import type { ApiKey } from "../generated/prisma/client.js";
import { uuidv7 } from "../ids.js";
import { ValidationError } from "../errors.js";
import { PERMISSIONS, isPermission, type Actor, type Permission } from "./actor.js";
import type { Clock } from "./deps.js";
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

/**
 * Turns a presented secret into the key it belongs to, or null when unknown, revoked,
 * or the secret before a rotation whose grace has ended.
 */
export class ApiKeyVerifier {
  private readonly cache = new Map<string, Cached>();
  /** Bumped by forget(), so a lookup that raced with it does not cache what it read before. */
  private generation = 0;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock = Date.now,
  ) {}

  async verify(secret: string): Promise<VerifiedKey | null> {
    const now = this.clock();
    const hash = hashSecret(secret);
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.key;
    const generation = this.generation;
    const { key, until } = await this.lookup(hash, now);
    if (generation === this.generation) {
      if (this.cache.size > 10_000) this.cache.clear(); // bounded: a flood of bad secrets cannot grow it
      this.cache.set(hash, { key, until: Math.min(until, now + CACHE_TTL_MS) });
    }
    return key;
  }

  /** Drops what this process cached about a key: it was revoked, rotated or changed. */
  forget(keyId: string): void {
    this.generation++;
    for (const [hash, c] of this.cache) if (c.key?.actor.keyId === keyId) this.cache.delete(hash);
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
    const current = await this.db.apiKey.findUnique({ where: { secretHash: hash } });
    if (current) return { key: current.revokedAt ? null : verified(current, hash), until: Infinity };
    const previous = await this.db.apiKey.findUnique({ where: { previousSecretHash: hash } });
    const graceEnds = previous?.previousSecretExpiresAt?.getTime() ?? 0;
    if (!previous || previous.revokedAt || graceEnds <= now) return { key: null, until: Infinity };
    return { key: verified(previous, hash), until: graceEnds };
  }
}

function verified(key: ApiKey, secretHash: string): VerifiedKey {
  return {
    actor: { tenantId: key.tenantId, keyId: key.id, permissions: new Set(key.permissions.split(",") as Permission[]) },
    rateLimit: ownRateLimit(key),
    secretHash,
  };
}
