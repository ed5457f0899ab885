// `npm run bench [-- --scenarios 1,3 --scale 0.1 --procs 1,2 --transports http,ws --json FILE --profile DIR --no-bullmq]`
// Progress goes to stderr, the table to stdout; --json writes every figure plus machine info.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { runBench } from "./bench.js";
import { parseArgs, USAGE } from "./args.js";
import { renderTable } from "./report.js";

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (err) {
  console.error((err as Error).message);
  process.exit(64);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
const { json, help: _help, ...benchOpts } = opts;
// the file's folder is made now, so a full run is not lost at its end for want of it
if (json) mkdirSync(dirname(json), { recursive: true });
try {
  const result = await runBench(benchOpts);
  console.log(renderTable(result.rows));
  if (json) {
    writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
    process.stderr.write(`figures written to ${json}\n`);
  }
  process.exit(0);
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
}
