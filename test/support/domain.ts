import { test as base } from "vitest";
import { buildApp, type App } from "../../src/app.js";
import type { Config } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { prepareDatabase } from "../../src/prepare.js";
import type { Deps } from "../../src/domain/deps.js";
import { PERMISSIONS, type Actor, type Permission } from "../../src/domain/actor.js";
import { createApiKey, insertApiKey } from "../../src/domain/api-keys/keys.js";
import { createScope } from "../../src/domain/scopes/scopes.js";
import { createQueue } from "../../src/domain/scopes/queues.js";
import { dropTestData, steppedClock, testConfig, uniq, type SteppedClock } from "./server.js";

/*
 * The fixtures of a test file that calls the domain's operations directly, without HTTP:
 * `test(name, async ({ deps, actor, newQueue }) => publish(deps, actor, […], "inputs"))`.
 *
 * Per file (set up when first asked for, torn down after the file's last test):
 *   clock   a SteppedClock the deps read (deps.clock); tests step it, nothing sleeps
 *   app     the service built by buildApp on a database and Redis key prefix of the
 *           file's own (server.ts testConfig), never listening; stopped and its data
 *           dropped at the end
 *   deps    app.deps: what every operation takes first
 *   actor   a key of a tenant of the file's own holding every permission, as an Actor
 * Per test:
 *   scope     a fresh scope of the actor's tenant, made with createScope; its id
 *   newQueue  makes a queue in `scope` with createQueue (FIFO COMPETING unless told otherwise); its id
 * And newActor(tenant, permissions) for another key, of the same tenant or another one.
 */

export type TestDomain = { app: App; config: Config; stop(): Promise<void> };

/** buildApp on a test config (its own database, created and migrated, and Redis prefix), not started. */
export async function startTestDomain(env: Record<string, string> = {}, opts: { clock?: SteppedClock } = {}): Promise<TestDomain> {
  const { config } = testConfig(env);
  const log = createLogger(config);
  await prepareDatabase(config, log);
  const app = buildApp(config, log, { clock: opts.clock?.now });
  return {
    app,
    config,
    async stop() {
      await app.stop();
      await dropTestData(config);
    },
  };
}

/**
 * A new API key with `permissions`, as the Actor the operations take: of the tenant with
 * that slug (made if missing), or of the tenant `{ tenantId }`, another actor's.
 */
export async function newActor(deps: Pick<Deps, "db">, tenant: string | { tenantId: string }, permissions: readonly Permission[] = PERMISSIONS): Promise<Actor> {
  if (typeof tenant === "string") {
    const key = await createApiKey(deps.db, tenant, [...permissions]);
    return { tenantId: key.tenantId, keyId: key.id, permissions: new Set(permissions) };
  }
  const { key } = await insertApiKey(deps.db, tenant.tenantId, { permissions: [...permissions] });
  return { tenantId: tenant.tenantId, keyId: key.id, permissions: new Set(permissions) };
}

export const test = base
  .extend("clock", { scope: "file" }, (): SteppedClock => steppedClock())
  .extend("app", { scope: "file" }, async ({ clock }, { onCleanup }): Promise<App> => {
    const domain = await startTestDomain({}, { clock });
    onCleanup(() => domain.stop());
    return domain.app;
  })
  .extend("deps", { scope: "file" }, ({ app }): Deps => app.deps)
  .extend("actor", { scope: "file" }, ({ deps }) => newActor(deps, `tenant-${uniq()}`))
  .extend("scope", async ({ deps, actor }) => (await createScope(deps, actor, { slug: `scope-${uniq()}`, displayName: "Test scope" })).id)
  .extend(
    "newQueue",
    ({ deps, actor, scope }) =>
      async (extra: Record<string, unknown> = {}) =>
        (await createQueue(deps, actor, { scopeId: scope, slug: `queue-${uniq()}`, displayName: "Test queue", ...extra })).id,
  );

export { expect, describe } from "vitest";
