import { createHash, randomBytes } from "node:crypto";
import type { Db } from "../db/client.js";
import { uuidv7 } from "../ids.js";
import { ValidationError } from "../errors.js";
import { PERMISSIONS, isPermission, type Actor, type Permission } from "./actor.js";

export const BOOTSTRAP_TENANT = "default";
const SECRET_PREFIX = "sqk_";
/** A revoked key stops working on every process within this long. */
const CACHE_TTL_MS = 1000;

export const hashSecret = (secret: string): string => createHash("sha256").update(secret).digest("hex");

function newSecret(): string {
  return SECRET_PREFIX + randomBytes(30).toString("base64url");
}

/** Finds the tenant by slug, creating it; safe when several processes race. */
async function ensureTenant(db: Db, slug: string): Promise<string> {
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

/** Creates a key and returns its secret: the only time the secret is ever seen. */
export async function createApiKey(
  db: Db,
  tenantSlug: string,
  permissions: Permission[],
): Promise<{ id: string; tenantId: string; secret: string }> {
  const tenantId = await ensureTenant(db, tenantSlug);
  const secret = newSecret();
  const key = await db.apiKey.create({
    data: { id: uuidv7(), tenantId, secretHash: hashSecret(secret), permissions: permissions.join(",") },
  });
  return { id: key.id, tenantId, secret };
}

/** Makes sure `secret` is a live key of the default tenant holding every permission. */
export async function ensureBootstrapKey(db: Db, secret: string): Promise<void> {
  const tenantId = await ensureTenant(db, BOOTSTRAP_TENANT);
  await db.$executeRaw`INSERT INTO api_keys (id, tenantId, secretHash, permissions, createdAt)
    VALUES (${uuidv7()}, ${tenantId}, ${hashSecret(secret)}, ${PERMISSIONS.join(",")}, NOW(3))
    ON DUPLICATE KEY UPDATE tenantId = VALUES(tenantId), permissions = VALUES(permissions), revokedAt = NULL`;
}

type Cached = { actor: Actor | null; until: number };

/** Turns a presented secret into an Actor, or null when unknown or revoked. */
export class ApiKeyVerifier {
  private readonly cache = new Map<string, Cached>();

  constructor(private readonly db: Db) {}

  async verify(secret: string, now = Date.now()): Promise<Actor | null> {
    const hash = hashSecret(secret);
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.actor;
    const key = await this.db.apiKey.findUnique({ where: { secretHash: hash } });
    const actor =
      key && !key.revokedAt
        ? { tenantId: key.tenantId, keyId: key.id, permissions: new Set(key.permissions.split(",") as Permission[]) }
        : null;
    if (this.cache.size > 10_000) this.cache.clear(); // bounded: a flood of bad secrets cannot grow it
    this.cache.set(hash, { actor, until: now + CACHE_TTL_MS });
    return actor;
  }
}
