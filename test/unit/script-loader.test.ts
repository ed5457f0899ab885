import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadScripts, resolveIncludes, splitFilename } from "../../src/redis/script-loader.js";

/*
 * The loader on fixture scripts (test/fixtures/scripts/), then a lint of the real scripts:
 * the contract block STYLE §4 asks for is what a reader of a script relies on.
 */

const FIXTURES = new URL("../fixtures/scripts/", import.meta.url).pathname;
const BADLY_NAMED = join(FIXTURES, "badly-named");
const REAL = new URL("../../src/redis/scripts/", import.meta.url).pathname;
const read = (dir: string, file: string) => readFileSync(join(dir, file), "utf8");
const count = (text: string, needle: string) => text.split(needle).length - 1;

describe("splitFilename", () => {
  it.each([
    ["claim-5.lua", "claim", 5],
    ["extendLease-2.lua", "extendLease", 2],
    ["moveToDeadLetter-12.lua", "moveToDeadLetter", 12],
    ["ping-0.lua", "ping", 0],
  ])("%s → %s with %i keys", (file, name, numberOfKeys) => {
    expect(splitFilename(file)).toEqual({ name, numberOfKeys });
  });

  it.each(["claim.lua", "claim-x.lua", "claim_jobs-2.lua", "move-to-dlq-2.lua", "2claim-1.lua", "claim-2.lua.bak", "claim-2.txt"])(
    "refuses %s",
    (file) => {
      expect(() => splitFilename(file)).toThrow(`script file ${file} is not named <camelName>-<keyCount>.lua`);
    },
  );
});

describe("resolveIncludes", () => {
  const inner = read(FIXTURES, "includes/inner.lua");

  it("replaces an include line with the file's text, with or without .lua", () => {
    for (const ref of ["includes/inner", "includes/inner.lua"]) {
      const source = `local x = 1\n--- @include "${ref}"\nreturn inner()\n`;
      expect(resolveIncludes(FIXTURES, source)).toBe(`local x = 1\n${inner}\nreturn inner()\n`);
    }
  });

  it("resolves includes inside includes, and inlines each include only once", () => {
    const out = resolveIncludes(FIXTURES, read(FIXTURES, "useBoth-2.lua"));
    expect(out).not.toContain("@include");
    expect(count(out, "local function inner()")).toBe(1);
    expect(count(out, "local function outer()")).toBe(1);
    // Lua locals must be defined before use: inner (pulled in by outer) comes first.
    expect(out.indexOf("local function inner()")).toBeLessThan(out.indexOf("local function outer()"));
    expect(out.indexOf("local function outer()")).toBeLessThan(out.indexOf("return outer()"));
  });

  it("leaves a line that only mentions @include alone", () => {
    const source = `-- write --- @include "includes/inner" on a line of its own\nreturn 1\n`;
    expect(resolveIncludes(FIXTURES, source)).toBe(source);
  });

  it("fails on a missing include instead of loading a broken script", () => {
    expect(() => resolveIncludes(FIXTURES, `--- @include "includes/missing"\n`)).toThrow(/missing\.lua/);
  });
});

describe("loadScripts", () => {
  it("loads every .lua file in the dir (not subdirs), sorted, with includes resolved per script", () => {
    const scripts = loadScripts(FIXTURES);
    expect(scripts.map(({ name, numberOfKeys }) => ({ name, numberOfKeys }))).toEqual([
      { name: "useBoth", numberOfKeys: 2 },
      { name: "useInner", numberOfKeys: 1 },
    ]);
    const useInner = scripts[1]!.lua;
    // useBoth included inner first; "once" holds within a script, not across scripts.
    expect(count(useInner, "local function inner()")).toBe(1);
    const expected = read(FIXTURES, "useInner-1.lua").replace(
      `--- @include "includes/inner.lua"\n`,
      `${read(FIXTURES, "includes/inner.lua")}\n`,
    );
    expect(useInner).toBe(expected);
  });

  it("refuses a dir holding a badly named script, naming the file", () => {
    expect(() => loadScripts(BADLY_NAMED)).toThrow(/claim_jobs\.lua/);
  });

  it("loads the real scripts under the names the wrapper calls, with no include left", () => {
    const scripts = loadScripts(REAL);
    expect(scripts.map((s) => s.name).sort()).toEqual(
      ["admit", "age", "announce", "claim", "depth", "enqueue", "extend", "promote", "rateLimit", "releaseLease", "remove", "renewLease", "repair", "requeue", "settle", "unheard"],
    );
    for (const s of scripts) expect(s.lua).not.toContain("@include");
  });
});

describe("real scripts in src/redis/scripts", () => {
  const files = readdirSync(REAL).filter((f) => f.endsWith(".lua"));

  it("exist", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)("%s starts with a contract block naming each KEYS[i] it uses", (file) => {
    const source = read(REAL, file);
    expect(source.startsWith("--[[")).toBe(true);
    const end = source.indexOf("]]");
    expect(end).toBeGreaterThan(0);
    const contract = source.slice(0, end);
    const code = source.slice(end + 2);
    const indices = (text: string) => new Set([...text.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1])));
    const { numberOfKeys } = splitFilename(file);
    const all = Array.from({ length: numberOfKeys }, (_, i) => i + 1);

    // The block documents exactly the keys the file name declares ...
    expect([...indices(contract)].sort((a, b) => a - b)).toEqual(all);
    // ... and the code touches no key beyond them.
    for (const i of indices(code)) expect(all).toContain(i);
  });
});
