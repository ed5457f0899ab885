import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

/**
 * The layers of src/ (README "Layout"), top down. A file may import from its own folder
 * and from any lower layer; never upward, never sideways into another folder of its own
 * layer, and no set of files may import each other in a circle (type imports count too:
 * they tie the files together just the same).
 */
const LAYERS: string[][] = [
  ["main.ts", "cli.ts", "prepare.ts", "supervisor.ts"],
  ["app.ts"],
  ["http"],
  ["schema", "agents"],
  ["domain"],
  ["events"],
  ["redis", "db"],
  ["config.ts", "errors.ts", "ids.ts", "logger.ts", "generated"],
];

const SRC = path.resolve(import.meta.dirname, "../../src");

/** The part of src/ a path belongs to: its first segment (a folder or a top-level file). */
const partOf = (file: string): string => path.relative(SRC, file).split(path.sep)[0]!;

function layerOf(part: string): number {
  const i = LAYERS.findIndex((l) => l.includes(part));
  if (i < 0) throw new Error(`src/${part} is in no layer: add it to LAYERS and to README's layout`);
  return i;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return name === "generated" ? [] : sourceFiles(p);
    return /\.(ts|mts|mjs)$/.test(name) ? [p] : [];
  });
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm;

/** The files of src/ that a file imports (relative specifiers; .js names the .ts beside it). */
function importsOf(file: string, known: Set<string>): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const [, spec] of text.matchAll(IMPORT)) {
    const target = path.resolve(path.dirname(file), spec!);
    const candidates = [target, target.replace(/\.js$/, ".ts"), target.replace(/\.mjs$/, ".d.mts")];
    const hit = candidates.find((c) => known.has(c)) ?? (target.includes(`${path.sep}generated${path.sep}`) ? target : undefined);
    if (!hit) throw new Error(`${path.relative(SRC, file)} imports ${spec}, which is no file of src/`);
    out.push(hit);
  }
  return out;
}

/** Strongly connected components of more than one file, or one importing itself (Tarjan). */
function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.map((f) => path.relative(SRC, f)).sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

const files = sourceFiles(SRC);
const known = new Set(files);
const graph = new Map(files.map((f) => [f, importsOf(f, known).filter((t) => known.has(t))]));

describe("the import structure of src/", () => {
  it("has no import circle", () => {
    expect(circles(graph)).toEqual([]);
  });

  it("imports only downward: no file imports a higher layer or another folder of its own layer (top-level files of one layer may use each other)", () => {
    const wrong: string[] = [];
    for (const f of files) {
      const from = partOf(f);
      for (const t of importsOf(f, known)) {
        const to = partOf(t);
        if (to === from) continue;
        const [a, b] = [layerOf(from), layerOf(to)];
        const files = from.endsWith(".ts") && to.endsWith(".ts");
        if (b < a || (b === a && !files)) wrong.push(`${path.relative(SRC, f)} -> ${path.relative(SRC, t)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("sees the imports it checks (a guard against a pattern that matches nothing)", () => {
    const edges = [...graph.values()].reduce((n, ts) => n + ts.length, 0);
    expect(edges).toBeGreaterThan(files.length);
    expect(graph.get(path.join(SRC, "app.ts"))).toContain(path.join(SRC, "config.ts"));
  });
});
