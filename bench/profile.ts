// Summarizes V8 .cpuprofile files (from `npm run bench -- --profile DIR`):
//   npx tsx bench/profile.ts DIR_OR_FILE... [--top 25] [--callers FUNCTION | --inclusive]
// prints the top functions by self time, and self time grouped by package / area;
// --callers shows the call chains leading into one function instead, --inclusive the
// inclusive time of our own (src/) functions.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

type Node = { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] };
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };

/** A file URL as a path relative to its checkout (profiles may come from another copy of the repo). */
const rel = (url: string) => url.replace(/^file:\/\//, "").replace(/^.*?\/(?=(src|bench|test|node_modules)\/)/, "");

/** Where a function lives: our source, a package, Node internals, or V8's own buckets. */
export function areaOf(url: string, fn: string): string {
  if (!url) return fn.startsWith("(") ? fn : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0]}`;
  const path = rel(url);
  if (path.startsWith("src/generated")) return "src/generated (prisma client)";
  return path.startsWith("src/") ? path : `other: ${path}`;
}

const frameName = (n: Node) => {
  const { functionName, url, lineNumber } = n.callFrame;
  const where = url ? `${rel(url).replace(/.*node_modules\//, "")}:${lineNumber + 1}` : "";
  return `${functionName || "(anonymous)"} ${where}`.trim();
};

/** A .cpuprofile's nodes by id, each node's parent, and the self time (µs) of each sampled node. */
function readProfile(file: string) {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const parent = new Map<number, Node>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  return { parent, byId, self };
}

/** The `depth`-frame call chains that lead into functions whose name starts with `name`, by self time. */
export function callers(file: string, name: string, depth = 12, top = 8): string {
  const { parent, byId, self } = readProfile(file);
  const chains = new Map<string, number>();
  let all = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    if (!frameName(n).startsWith(name)) continue;
    all += us;
    const chain: string[] = [];
    for (let c: Node | undefined = n; c && chain.length < depth; c = parent.get(c.id)) chain.push(frameName(c));
    chains.set(chain.join("\n      < "), (chains.get(chain.join("\n      < ")) ?? 0) + us);
  }
  return [`callers of ${name} (${(all / 1e3).toFixed(0)} ms self):`, ...[...chains].sort((a, b) => b[1] - a[1]).slice(0, top).map(([c, us]) => `  ${((us / all) * 100).toFixed(0).padStart(3)}%  ${c}`)].join("\n");
}

/** Inclusive time of our own functions (src/): each sample counts once for every src/ frame on its stack. */
export function inclusive(file: string, top = 25): string {
  const { parent, byId, self } = readProfile(file);
  const incl = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const leaf = byId.get(id)!;
    if (leaf.callFrame.functionName === "(idle)") continue;
    busy += us;
    const names = new Set<string>();
    for (let c: Node | undefined = leaf; c; c = parent.get(c.id)) {
      const url = rel(c.callFrame.url);
      if (url.startsWith("src/") && !url.startsWith("src/generated")) names.add(frameName(c));
    }
    for (const n of names) incl.set(n, (incl.get(n) ?? 0) + us);
  }
  return [`inclusive time of src/ functions (share of busy time; async work after an await is not attributed):`, ...[...incl].sort((a, b) => b[1] - a[1]).slice(0, top).map(([f, us]) => `  ${((us / busy) * 100).toFixed(1).padStart(5)}%  ${f}`)].join("\n");
}

export function summarize(file: string, top = 25): string {
  const { parent, byId, self } = readProfile(file);
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  const charged = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of self) {
    // native and node: time is charged to the nearest package or src/ frame that called it
    let c: Node | undefined = byId.get(id)!;
    while (c && /^(node:|\(native\)|\(anonymous\))/.test(areaOf(c.callFrame.url, c.callFrame.functionName || "(anonymous)")) && parent.get(c.id)) c = parent.get(c.id);
    const payer = c && c.callFrame.url ? areaOf(c.callFrame.url, c.callFrame.functionName) : areaOf(byId.get(id)!.callFrame.url, byId.get(id)!.callFrame.functionName || "(anonymous)");
    charged.set(payer, (charged.get(payer) ?? 0) + us);
    const { functionName, url } = byId.get(id)!.callFrame;
    if (functionName === "(idle)") idle += us;
    const key = frameName(byId.get(id)!);
    fns.set(key, (fns.get(key) ?? 0) + us);
    const area = areaOf(url, functionName || "(anonymous)");
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  const lines = [
    `${file}: ${(total / 1e6).toFixed(1)} s profiled, ${(busy / 1e6).toFixed(1)} s busy (${((busy / total) * 100).toFixed(0)}%); shares below are of busy time`,
    "",
    "self time by area:",
    ...[...areas].filter(([a]) => a !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, 20).map(([a, us]) => `  ${pct(us)}  ${a}`),
    "",
    "by area, with native and node: time charged to the package (or src/ file) that called it:",
    ...[...charged].filter(([a]) => a !== "(idle)").sort((a, b) => b[1] - a[1]).slice(0, 20).map(([a, us]) => `  ${pct(us)}  ${a}`),
    "",
    `top ${top} functions by self time:`,
    ...[...fns].filter(([f]) => !f.startsWith("(idle)")).sort((a, b) => b[1] - a[1]).slice(0, top).map(([f, us]) => `  ${pct(us)}  ${f}`),
  ];
  return lines.join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf("--top");
  const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;
  const callersAt = args.indexOf("--callers");
  const of = callersAt >= 0 ? args.splice(callersAt, 2)[1] : undefined;
  const inclAt = args.indexOf("--inclusive");
  if (inclAt >= 0) args.splice(inclAt, 1);
  const files = args.flatMap((a) =>
    statSync(a).isDirectory() ? readdirSync(a).filter((f) => f.endsWith(".cpuprofile")).map((f) => join(a, f)) : [a],
  );
  if (!files.length) {
    console.error("usage: npx tsx bench/profile.ts DIR_OR_FILE... [--top 25]");
    process.exit(64);
  }
  for (const f of files) console.log(`${of ? callers(f, of) : inclAt >= 0 ? inclusive(f, top) : summarize(f, top)}\n`);
}
