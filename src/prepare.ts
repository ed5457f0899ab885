import type { Config } from "./config.js";
import type { Logger } from "./logger.js";
import { applyMigrations, ensureDatabase } from "./db/migrate.js";
import { createDb } from "./db/client.js";
import { ensureBootstrapKey } from "./domain/api-keys/keys.js";

/**
 * What must hold before serving: the database exists, every migration is applied, and
 * the bootstrap key (when configured) works. Safe to run from several processes at once.
 */
export async function prepareDatabase(config: Config, log: Logger): Promise<void> {
  await ensureDatabase(config.database.url);
  const applied = await applyMigrations(config.database.url, {
    onProgress: (e) => log.info({ migration: e.migration }, `migration ${e.step}`),
  });
  log.info({ applied: applied.length }, "database schema up to date");
  if (config.bootstrapApiKey) {
    const db = createDb({ database: { ...config.database, poolSize: 1 } });
    try {
      await ensureBootstrapKey(db, config.bootstrapApiKey);
      log.info("bootstrap API key ensured for tenant default");
    } finally {
      await db.$disconnect();
    }
  }
}
