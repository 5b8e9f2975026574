import { expect, test } from "bun:test";
import { compileExcludes } from "./exclude-patterns.ts";

test("the matcher follows the documented rules", () => {
  const m = compileExcludes(["*.log", "cache/", "logs/old", "a/**/z", "[!x]y"]);
  expect(m.excludes("x.log", false)).toBe(true);
  expect(m.excludes("d/x.log", true)).toBe(true);
  expect(m.excludes("x.log.gz", false)).toBe(false);
  expect(m.excludes("cache", true)).toBe(true);
  expect(m.excludes("cache", false)).toBe(false);
  expect(m.excludes("logs/old", true)).toBe(true);
  expect(m.excludes("q/logs/old", true)).toBe(false);
  expect(m.excludes("a/z", false)).toBe(true);
  expect(m.excludes("a/b/c/z", false)).toBe(true);
  expect(m.excludes("ay", false)).toBe(true);
  expect(m.excludes("xy", false)).toBe(false);
});
