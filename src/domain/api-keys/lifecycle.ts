import { z } from "zod";
import type { Db } from "../../db/client.js";
import type { ApiKey } from "../../generated/prisma/client.js";
import { isUuid } from "../../ids.js";
import { InvalidStateError, PermissionDeniedError, ValidationError } from "../../errors.js";
import { isPermission, type Permission } from "../actor.js";
import { hashSecret, insertApiKey, newSecret, ownRateLimit } from "./keys.js";
import type { Clock } from "../deps.js";
import { defaultBurst, type RateLimit } from "./rate-limits.js";
import { intIn, parseInput, text } from "../validation.js";

/** The longest a rotated-out secret may keep working. */
export const MAX_GRACE_S = 7 * 24 * 3600;
const MAX_RATE = 1_000_000;

/** A key with its secret: the answer of create and rotate, the only time the secret is seen. */
export type IssuedApiKey = { apiKey: ApiKey; secret: string };

/** The limit a key runs under, and whether it is the deployment default. */
export type EffectiveRateLimit = RateLimit & { isDefault: boolean };

const RateLimitInput = z
  .object({
    perSecond: z.number().min(0, "at least 0 (0 = unlimited)").max(MAX_RATE, `at most ${MAX_RATE}`),
    burst: intIn(1, MAX_RATE).nullish(),
  })
  .transform((l): RateLimit => ({ perSecond: l.perSecond, burst: l.burst ?? defaultBurst(l.perSecond) }));

const name = text(200).refine((s) => s.trim().length > 0, "must not be blank");

const CreateApiKey = z.object({
  name: name.nullish(),
  permissions: z
    .array(z.string().refine(isPermission, "not a permission: scaiqueue:view, :publish, :consume or :manage"))
    .min(1, "give at least one permission"),
  rateLimit: RateLimitInput.nullish(),
});

/** Omitted fields stay as they are; null sets them back (no name, the default rate limit). */
const UpdateApiKey = z.object({ name: name.nullish(), rateLimit: RateLimitInput.nullish() });

const graceS = intIn(0, MAX_GRACE_S);

/**
 * Listing, creating, changing, revoking and rotating the keys of one tenant. Every
 * change that affects what a secret may do is announced through `changed`, so every
 * process drops what it cached about the key and closes the sockets it no longer
 * authenticates.
 */
export class ApiKeyLifecycle {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly changed: (keyId: string) => Promise<void>,
    private readonly defaultKeyLimit: RateLimit,
  ) {}

  list(tenantId: string): Promise<ApiKey[]> {
    return this.db.apiKey.findMany({ where: { tenantId }, orderBy: { id: "asc" } });
  }

  /** A new key of the tenant, holding only permissions in `grantable` (a key cannot hand out more than it has). */
  async create(tenantId: string, grantable: ReadonlySet<Permission>, input: unknown): Promise<IssuedApiKey> {
    const data = parseInput(CreateApiKey, input, "input");
    const permissions = [...new Set(data.permissions)] as Permission[];
    const missing = permissions.find((p) => !grantable.has(p));
    if (missing) throw new PermissionDeniedError(missing);
    const { key, secret } = await insertApiKey(this.db, tenantId, { permissions, name: data.name, rateLimit: data.rateLimit });
    return { apiKey: key, secret };
  }

  async update(tenantId: string, grantable: ReadonlySet<Permission>, id: string, input: unknown): Promise<ApiKey> {
    const data = parseInput(UpdateApiKey, input, "input");
    await this.find(tenantId, grantable, id);
    const key = await this.db.apiKey.update({
      where: { id },
      data: {
        ...(data.name === undefined ? {} : { name: data.name }),
        ...(data.rateLimit === undefined
          ? {}
          : { rateLimitPerS: data.rateLimit?.perSecond ?? null, rateLimitBurst: data.rateLimit?.burst ?? null }),
      },
    });
    if (data.rateLimit !== undefined) await this.changed(id);
    return key;
  }

  /** Ends the key and any secret of it at once, everywhere. Revoking a revoked key answers it unchanged. */
  async revoke(tenantId: string, grantable: ReadonlySet<Permission>, id: string): Promise<ApiKey> {
    await this.find(tenantId, grantable, id);
    await this.db.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date(this.clock()) } });
    // announced even when it was revoked already: that repairs an announcement lost earlier
    await this.changed(id);
    return this.db.apiKey.findUniqueOrThrow({ where: { id } });
  }

  /**
   * A new secret for the same key (same id, permissions, name and limits). The secret it
   * replaces keeps working for `grace` seconds (0 = stops at once); a secret still in an
   * earlier grace stops at once.
   */
  async rotate(tenantId: string, grantable: ReadonlySet<Permission>, id: string, grace: unknown): Promise<IssuedApiKey> {
    const graceSeconds = parseInput(graceS, grace, "graceS");
    const key = await this.find(tenantId, grantable, id);
    if (key.revokedAt) throw new InvalidStateError("the API key is revoked; create a new one");
    const now = this.clock();
    const secret = newSecret();
    // conditional on the secret read above: of two rotations at once, one wins and the other is refused
    const { count } = await this.db.apiKey.updateMany({
      where: { id, secretHash: key.secretHash, revokedAt: null },
      data: {
        secretHash: hashSecret(secret),
        previousSecretHash: graceSeconds > 0 ? key.secretHash : null,
        previousSecretExpiresAt: graceSeconds > 0 ? new Date(now + graceSeconds * 1000) : null,
        rotatedAt: new Date(now),
      },
    });
    if (count === 0) throw new InvalidStateError("the API key was revoked or rotated meanwhile; try again");
    await this.changed(id);
    return { apiKey: await this.db.apiKey.findUniqueOrThrow({ where: { id } }), secret };
  }

  rateLimitOf(key: ApiKey): EffectiveRateLimit {
    const own = ownRateLimit(key);
    return own ? { ...own, isDefault: false } : { ...this.defaultKeyLimit, isDefault: true };
  }

  /**
   * A key of this tenant that the caller may change: one holding only permissions the
   * caller holds too. Changing a stronger key (its secret above all) would hand the
   * caller what it lacks, as creating one would. Another tenant's or a malformed id
   * answers as an unknown one.
   */
  private async find(tenantId: string, grantable: ReadonlySet<Permission>, id: string): Promise<ApiKey> {
    const key = isUuid(id) ? await this.db.apiKey.findFirst({ where: { id, tenantId } }) : null;
    if (!key) throw new ValidationError([{ field: "id", message: "no such API key" }]);
    const missing = key.permissions.split(",").find((p) => !grantable.has(p as Permission));
    if (missing) throw new PermissionDeniedError(missing);
    return key;
  }
}
