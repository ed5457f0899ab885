import type { TestServer } from "./server.js";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 100 ms until it holds; throws after `ms`. */
export async function until(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not reached");
    await sleep(100);
  }
}

/** The status /readyz of a server answers: 200 while MariaDB and Redis answer it, else 503. */
export const readyz = async (s: Pick<TestServer, "url">): Promise<number> => (await fetch(s.url.replace("/graphql", "/readyz"))).status;
