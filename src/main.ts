import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { prepareDatabase } from "./prepare.js";
import { buildApp } from "./app.js";

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(78); // EX_CONFIG
}
const log = createLogger(config);

await prepareDatabase(config, log);
const app = buildApp(config, log);
const port = await app.start();
log.info({ port, graphql: `http://localhost:${port}/graphql` }, "ScaiQueue GraphQL is serving");

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    log.info({ signal }, "shutting down");
    app.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}
