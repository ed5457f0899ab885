import cluster from "node:cluster";
import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { prepareDatabase } from "./prepare.js";
import { superviseWorkers } from "./supervisor.js";

let config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(78); // EX_CONFIG
}
const log = createLogger(config);

// With WEB_CONCURRENCY > 1 this process is the primary: it prepares the database once,
// before any worker starts, and the workers (this file again) only serve.
if (cluster.isPrimary) await prepareDatabase(config, log);
if (cluster.isPrimary && config.webConcurrency > 1) {
  superviseWorkers(config, log);
} else {
  // imported here, so a primary never loads (nor holds) the schema and the clients
  const { buildApp } = await import("./app.js");
  const app = buildApp(config, log);
  const port = await app.start();
  log.info({ port, graphql: `http://localhost:${port}/graphql` }, "ScaiQueue GraphQL is serving");
  // A parent that started this process with an IPC channel (the benchmark, with PORT=0)
  // learns the port it got: a port picked free beforehand can be taken by someone else.
  if (process.send && !cluster.isWorker) process.send({ serving: port });

  const shutdown = (signal: NodeJS.Signals) => {
    log.info({ signal }, "shutting down");
    app.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  if (cluster.isWorker) {
    // The primary forwards SIGTERM, and a terminal's Ctrl-C reaches every process of the
    // group too: the first signal drains, later ones must not cut the drain short.
    let stopping = false;
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.on(signal, () => {
        if (!stopping) shutdown(signal);
        stopping = true;
      });
    }
  } else {
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => shutdown(signal));
  }
}
