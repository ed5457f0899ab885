/**
 * npm run --silent cli -- apikey create --tenant SLUG --permissions p1,p2,...
 * Prints progress on stderr and the new secret as the last line of stdout.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { prepareDatabase } from "./prepare.js";
import { createDb } from "./db/client.js";
import { createApiKey, parsePermissions } from "./domain/api-keys.js";
import { PERMISSIONS } from "./domain/actor.js";
import { DomainError } from "./errors.js";

const USAGE = `usage: npm run --silent cli -- apikey create --tenant SLUG --permissions ${PERMISSIONS.join(",")}`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { tenant: { type: "string" }, permissions: { type: "string" } },
  });
  if (positionals.join(" ") !== "apikey create" || !values.tenant || !values.permissions) {
    console.error(USAGE);
    return 64; // EX_USAGE
  }
  const config = loadConfig();
  const log = createLogger(config, { stderr: true }); // stdout carries only the secret
  const permissions = parsePermissions(values.permissions);
  await prepareDatabase(config, log);
  const db = createDb({ database: { ...config.database, poolSize: 1 } });
  try {
    console.error(`creating an API key for tenant ${values.tenant} with ${permissions.join(",")}`);
    const key = await createApiKey(db, values.tenant, permissions);
    console.error(`created key ${key.id}; the secret is shown once:`);
    console.log(key.secret);
    return 0;
  } finally {
    await db.$disconnect();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof ConfigError) console.error(err.message);
    else if (err instanceof DomainError) console.error(`${err.code}: ${err.message}`);
    else console.error(err);
    process.exit(1);
  },
);
