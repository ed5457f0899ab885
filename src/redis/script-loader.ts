import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export type LoadedScript = { name: string; numberOfKeys: number; lua: string };

const INCLUDE_RE = /^--- @include "([^"]+)"\s*$/gm;

/** `claim-5.lua` → { name: "claim", numberOfKeys: 5 } */
export function splitFilename(file: string): { name: string; numberOfKeys: number } {
  const m = /^([a-zA-Z][a-zA-Z0-9]*)-(\d+)\.lua$/.exec(file);
  if (!m) throw new Error(`script file ${file} is not named <camelName>-<keyCount>.lua`);
  return { name: m[1]!, numberOfKeys: Number(m[2]) };
}

/** Inlines `--- @include "includes/x"` lines (each include once), recursively. */
export function resolveIncludes(dir: string, source: string, seen = new Set<string>()): string {
  return source.replace(INCLUDE_RE, (_line, ref: string) => {
    const path = join(dir, ref.endsWith(".lua") ? ref : `${ref}.lua`);
    if (seen.has(path)) return "";
    seen.add(path);
    return resolveIncludes(dir, readFileSync(path, "utf8"), seen);
  });
}

export function loadScripts(dir: string): LoadedScript[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".lua"))
    .sort()
    .map((file) => ({ ...splitFilename(file), lua: resolveIncludes(dir, readFileSync(join(dir, file), "utf8")) }));
}
