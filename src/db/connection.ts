import type { PoolConfig } from "mariadb";

/**
 * DATABASE_URL → driver settings. The database name is kept apart so it can be created
 * first. `?socket=/path` connects over that Unix socket instead of TCP (Prisma's own URL
 * parameter for MySQL): on one host it costs the server and MariaDB less per statement
 * (docs/performance.md).
 */
export function parseDatabaseUrl(url: string): { server: PoolConfig; database: string } {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ""));
  if (!/^[A-Za-z0-9_$-]{1,64}$/.test(database)) {
    throw new Error(`DATABASE_URL must name a database (letters, digits, _ $ -), got "${database}"`);
  }
  const socketPath = u.searchParams.get("socket");
  return {
    server: {
      ...(socketPath ? { socketPath } : { host: u.hostname || "127.0.0.1", port: u.port ? Number(u.port) : 3306 }),
      user: decodeURIComponent(u.username || "root"),
      password: decodeURIComponent(u.password),
    },
    database,
  };
}
