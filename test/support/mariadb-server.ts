import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createConnection } from "mariadb";
import { freePort } from "./process.js";

/**
 * A MariaDB server of this test file's own (a fresh data directory on a free loopback
 * port), so a test can freeze it (SIGSTOP: a server that takes connections and answers
 * nothing) without touching the MariaDB other files share.
 */
export type PrivateMariaDb = { url: string; freeze(): void; thaw(): void; stop(): Promise<void> };

export async function startPrivateMariaDb(): Promise<PrivateMariaDb> {
  const dir = mkdtempSync(join(tmpdir(), "sq-mariadb-"));
  const install = spawnSync("mariadb-install-db", ["--no-defaults", `--datadir=${dir}/data`, "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"], { stdio: "ignore" });
  if (install.status !== 0) throw new Error(`mariadb-install-db failed (${install.status})`);
  const port = await freePort();
  const child: ChildProcess = spawn(
    "/usr/sbin/mariadbd",
    ["--no-defaults", `--datadir=${dir}/data`, `--port=${port}`, "--bind-address=127.0.0.1", `--socket=${dir}/sock`, `--pid-file=${dir}/pid`, "--user=root", "--innodb-buffer-pool-size=32M"],
    { stdio: "ignore" },
  );
  for (let i = 0; ; i++) {
    const up = await createConnection({ host: "127.0.0.1", port, user: "root" }).then((c) => c.end().then(() => true), () => false);
    if (up) break;
    if (i > 200 || child.exitCode !== null) throw new Error(`mariadbd on ${port} did not start`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `mysql://root@127.0.0.1:${port}/scaiqueue`,
    freeze: () => void child.kill("SIGSTOP"),
    thaw: () => void child.kill("SIGCONT"),
    async stop() {
      if (child.exitCode === null) {
        const exited = once(child, "exit");
        child.kill("SIGCONT");
        child.kill("SIGKILL");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
