// `npm run generate`: runs `prisma generate` only when prisma/schema.prisma (or the
// Prisma version) changed since the last run, so parallel test processes that call
// it (the CLI test) never rewrite the client while another process is loading it.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const root = new URL("..", import.meta.url).pathname;
const stamp = `${root}src/generated/prisma/.schema-hash`;
const version = createRequire(import.meta.url)("prisma/package.json").version;
const hash = createHash("sha256")
  .update(version)
  .update(readFileSync(`${root}prisma/schema.prisma`))
  .digest("hex");

if (existsSync(stamp) && readFileSync(stamp, "utf8") === hash) process.exit(0);

execFileSync(`${root}node_modules/.bin/prisma`, ["generate"], {
  cwd: root,
  stdio: ["ignore", process.stderr, process.stderr],
  env: {
    ...process.env,
    CHECKPOINT_DISABLE: "1", // no update check: there is no network
    PRISMA_HIDE_UPDATE_MESSAGE: "1",
    // generate only needs the schema engine's path, never runs it (docs/migrations.md)
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  },
});
writeFileSync(stamp, hash);
