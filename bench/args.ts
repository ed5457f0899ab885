import type { BenchOptions } from "./bench.js";

export const USAGE = `usage: npm run bench -- [options]
  --scenarios 1,2,3,4,5   which scenarios (default all)
  --scale 1               multiplies message counts (0.1 for a quick run)
  --procs 1,2             server processes for scenarios 1–3 (default both)
  --transports http,ws    transports of scenarios 2 and 3 (default: both on
                          one process, graphql-ws only on two)
  --s3-rate 500           publish rate of scenario 3 (messages/s)
  --json FILE             write all figures and machine info as JSON
  --profile DIR           run the servers with --cpu-prof, profiles in DIR
  --server-env K=V        extra environment for the servers (repeatable), e.g.
                          SCAIQUEUE_AGENTS=off or DATABASE_POOL_SIZE=20
  --no-bullmq             ScaiQueue only`;

function list(v: string | undefined, flag: string): string[] {
  if (!v) throw new Error(`${flag} needs a value`);
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}

export type CliOptions = BenchOptions & { json?: string; help?: boolean };

/** Parses `npm run bench -- …` flags; throws with the usage on anything unknown. */
export function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = { scenarios: [1, 2, 3, 4, 5], scale: 1, procs: [1, 2] };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case "--scenarios":
        o.scenarios = list(value(), flag).map(Number);
        if (o.scenarios.some((s) => !(s >= 1 && s <= 5 && Number.isInteger(s)))) throw new Error("--scenarios takes numbers 1–5");
        break;
      case "--scale":
        o.scale = Number(value());
        if (!(o.scale > 0 && o.scale <= 10)) throw new Error("--scale takes a number in (0, 10]");
        break;
      case "--procs":
        o.procs = list(value(), flag).map(Number);
        if (o.procs.some((p) => p !== 1 && p !== 2)) throw new Error("--procs takes 1 and/or 2");
        break;
      case "--transports":
        o.transports = list(value(), flag) as ("http" | "ws")[];
        if (o.transports.some((t) => t !== "http" && t !== "ws")) throw new Error("--transports takes http and/or ws");
        break;
      case "--s3-rate":
        o.s3Rate = Number(value());
        if (!(o.s3Rate > 0 && o.s3Rate <= 5000)) throw new Error("--s3-rate takes messages/s in (0, 5000]");
        break;
      case "--json":
        o.json = value();
        break;
      case "--profile":
        o.profileDir = value();
        break;
      case "--server-env": {
        const kv = value() ?? "";
        const at = kv.indexOf("=");
        if (at < 1) throw new Error("--server-env takes KEY=VALUE");
        o.serverEnv = { ...o.serverEnv, [kv.slice(0, at)]: kv.slice(at + 1) };
        break;
      }
      case "--no-bullmq":
        o.noBullmq = true;
        break;
      case "--help":
      case "-h":
        o.help = true;
        break;
      default:
        throw new Error(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return o;
}
