import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Vite would pick graphql's ESM build for our sources while yoga and Pothos load
    // the CommonJS one, as Node does; two copies break `instanceof GraphQLError`.
    alias: [{ find: /^graphql$/, replacement: "graphql/index.js" }],
  },
  test: {
    include: ["test/**/*.test.ts"],
    // Each file starts its own server on its own database and Redis key prefix, so
    // files run in parallel. They mostly wait on MariaDB, Redis and child processes,
    // so three at a time beat vitest's default (cores - 1 = one on our 2-core machines).
    pool: "forks",
    maxWorkers: 3,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    setupFiles: ["test/support/no-leaks.ts"],
    reporters: ["default", "json"],
    outputFile: { json: "test-results/vitest.json" },
  },
});
