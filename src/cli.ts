/**
 * Operator commands for API keys (run with `npm run --silent cli -- …`):
 *   apikey create --tenant SLUG --permissions p1,p2 [--name NAME] [--rate-per-s N [--rate-burst N]]
 *   apikey list --tenant SLUG
 *   apikey update ID [--name NAME] [--rate-per-s N [--rate-burst N] | --default-rate-limit]
 *   apikey revoke ID
 *   apikey rotate ID [--grace-s N]
 * Progress goes to stderr. create and rotate print the new secret as the last line of
 * stdout; list prints a tab-separated table, update and revoke the key's row.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { prepareDatabase } from "./prepare.js";
import { createDb, type Db } from "./db/client.js";
import type { ApiKey } from "./generated/prisma/client.js";
import { ensureTenant, parsePermissions } from "./domain/api-keys/keys.js";
import { ApiKeyLifecycle } from "./domain/api-keys/lifecycle.js";
import { PERMISSIONS } from "./domain/actor.js";
import { createRedis, type RedisClient } from "./redis/client.js";
import { createKeys } from "./redis/keys.js";
import { KeyChanges } from "./events/key-changes.js";
import { DomainError } from "./errors.js";

const USAGE = `usage: npm run --silent cli -- apikey <command>
  create --tenant SLUG --permissions ${PERMISSIONS.join(",")} [--name NAME] [--rate-per-s N [--rate-burst N]]
  list --tenant SLUG
  update ID [--name NAME] [--rate-per-s N [--rate-burst N] | --default-rate-limit]
  revoke ID
  rotate ID [--grace-s N]`;
const EX_USAGE = 64;

const OPTIONS = {
  tenant: { type: "string" },
  permissions: { type: "string" },
  name: { type: "string" },
  "rate-per-s": { type: "string" },
  "rate-burst": { type: "string" },
  "default-rate-limit": { type: "boolean" },
  "grace-s": { type: "string" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];

/** --rate-per-s/--rate-burst as the mutations' rateLimit input; undefined when not given, null for --default-rate-limit. */
function rateLimitOf(v: Values): { perSecond: number; burst?: number } | null | undefined {
  if (v["default-rate-limit"]) return null;
  if (v["rate-per-s"] === undefined) return undefined;
  return { perSecond: Number(v["rate-per-s"]), ...(v["rate-burst"] !== undefined ? { burst: Number(v["rate-burst"]) } : {}) };
}

const HEADER = ["id", "name", "permissions", "rateLimit", "createdAt", "rotatedAt", "revokedAt"].join("\t");

function row(keys: ApiKeyLifecycle, k: ApiKey): string {
  const limit = keys.rateLimitOf(k);
  const rate = `${limit.perSecond === 0 ? "unlimited" : `${limit.perSecond}/s burst ${limit.burst}`}${limit.isDefault ? " (default)" : ""}`;
  const at = (d: Date | null) => d?.toISOString() ?? "-";
  return [k.id, k.name ?? "-", k.permissions, rate, at(k.createdAt), at(k.rotatedAt), at(k.revokedAt)].join("\t");
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return EX_USAGE;
  }
  const { positionals, values } = parsed;
  const [group, command, id, ...extra] = positionals;
  const needsId = command === "update" || command === "revoke" || command === "rotate";
  const usable =
    group === "apikey" &&
    extra.length === 0 &&
    ((command === "create" && !id && values.tenant && values.permissions) ||
      (command === "list" && !id && values.tenant) ||
      (needsId && id));
  if (!usable) {
    console.error(USAGE);
    return EX_USAGE;
  }
  const config = loadConfig();
  const log = createLogger(config, { stderr: true }); // stdout carries only the answer
  const permissions = command === "create" ? parsePermissions(values.permissions!) : [];
  await prepareDatabase(config, log);
  const db = createDb({ database: { ...config.database, poolSize: 1 } });
  const conn: { redis?: RedisClient } = {}; // opened by the first announcement only
  // A change is announced so running servers drop the key at once; if Redis cannot be
  // reached they still notice within a second (docs/design.md, API keys).
  const announce = async (keyId: string) => {
    if (!conn.redis) {
      conn.redis = createRedis(config);
      conn.redis.on("error", () => {}); // reported by announce below
    }
    await new KeyChanges(conn.redis, null, createKeys(config.redis.keyPrefix).apiKeyChanges, (err) =>
      console.error(`could not announce the change over Redis (${(err as Error).message}); servers notice within a second anyway`),
    ).announce(keyId);
  };
  const keys = new ApiKeyLifecycle(db, Date.now, announce, config.rateLimits.key);
  try {
    return await run(command!, id, values, { db, keys, permissions });
  } finally {
    conn.redis?.disconnect();
    await db.$disconnect();
  }
}

async function run(
  command: string,
  id: string | undefined,
  values: Values,
  ctx: { db: Db; keys: ApiKeyLifecycle; permissions: string[] },
): Promise<number> {
  const { db, keys } = ctx;
  /** The operator may act on any tenant's key; the key's own tenant is the one it is changed in. */
  const tenantOf = async (keyId: string) => (await db.apiKey.findUnique({ where: { id: keyId }, select: { tenantId: true } }))?.tenantId ?? "";
  const operator = new Set(PERMISSIONS);
  switch (command) {
    case "create": {
      const tenantId = await ensureTenant(db, values.tenant!);
      console.error(`creating an API key for tenant ${values.tenant} with ${ctx.permissions.join(",")}`);
      const { apiKey, secret } = await keys.create(tenantId, operator, {
        name: values.name,
        permissions: ctx.permissions,
        rateLimit: rateLimitOf(values),
      });
      console.error(`created key ${apiKey.id}; the secret is shown once:`);
      console.log(secret);
      return 0;
    }
    case "list": {
      const tenant = await db.tenant.findUnique({ where: { slug: values.tenant! } });
      console.log(HEADER);
      for (const k of tenant ? await keys.list(tenant.id) : []) console.log(row(keys, k));
      return 0;
    }
    case "update": {
      const key = await keys.update(await tenantOf(id!), operator, id!, {
        ...(values.name !== undefined ? { name: values.name } : {}),
        ...(rateLimitOf(values) !== undefined ? { rateLimit: rateLimitOf(values) } : {}),
      });
      console.error(`updated key ${key.id}`);
      console.log(row(keys, key));
      return 0;
    }
    case "revoke": {
      const key = await keys.revoke(await tenantOf(id!), operator, id!);
      console.error(`revoked key ${key.id}`);
      console.log(row(keys, key));
      return 0;
    }
    case "rotate": {
      const graceS = values["grace-s"] === undefined ? 0 : Number(values["grace-s"]);
      const { apiKey, secret } = await keys.rotate(await tenantOf(id!), operator, id!, graceS);
      const until = apiKey.previousSecretExpiresAt ? `works until ${apiKey.previousSecretExpiresAt.toISOString()}` : "stopped working";
      console.error(`rotated key ${apiKey.id}; the old secret ${until}; the new secret is shown once:`);
      console.log(secret);
      return 0;
    }
  }
  return EX_USAGE;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof ConfigError) console.error(err.message);
    else if (err instanceof DomainError) {
      const details = err.details?.map((d) => `\n  ${d.field}: ${d.message}`).join("") ?? "";
      console.error(`${err.code}: ${err.message}${details}`);
    } else console.error(err);
    process.exit(1);
  },
);
