import { PrismaMariaDb } from "@prisma/adapter-mariadb";
import { PrismaClient } from "../generated/prisma/client.js";
import type { Config } from "../config.js";
import { parseDatabaseUrl } from "./connection.js";

export type Db = PrismaClient;

export function createDb(config: Pick<Config, "database">): Db {
  const { server, database } = parseDatabaseUrl(config.database.url);
  const adapter = new PrismaMariaDb({
    ...server,
    database,
    connectionLimit: config.database.poolSize,
    // DATETIME(3) columns hold UTC; read and write them as such whatever the server zone.
    timezone: "Z",
  });
  return new PrismaClient({ adapter });
}
