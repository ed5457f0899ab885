// Used by the Prisma CLI only (generate; migrate deploy where the native engine
// exists). The service itself reads DATABASE_URL through src/config.ts.
import { defineConfig } from "prisma/config";

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "mysql://root@127.0.0.1:3306/scaiqueue" },
});
