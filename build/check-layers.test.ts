// The dependency rule catches what it is for: forbidden edges, cycles, I/O in pure modules, shipped code importing test helpers.
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { findCycles, findLayerViolations, type ImportEdge, importsOf } from "./check-layers.ts";

/** A throw-away repository holding `files` (path under it -> text); returns its folder. */
function repo(files: Record<string, string>): string {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-layers-"));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.join(base, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(base, rel), text);
  }
  return base;
}

/** A small tree that follows every rule; each test adds one file that breaks one. */
const CLEAN = {
  "src/errors.ts": "export class HashRelayError extends Error {}\n",
  "src/protocol/constants.ts": 'import { HashRelayError } from "../errors.ts";\nexport const PORT = 7373;\n',
  "src/config/schedule.ts": 'import { PORT } from "../protocol/constants.ts";\nexport const port = PORT;\n',
  "src/io/files.ts": 'import fs from "node:fs";\nimport { port } from "../config/schedule.ts";\nexport const read = fs.readFileSync;\n',
  "src/store/store.ts": 'import { read } from "../io/files.ts";\nexport const open = read;\n',
  "src/testing/fake-store.ts": 'import { open } from "../store/store.ts";\nexport const fake = open;\n',
  "src/store/store.test.ts": 'import { fake } from "../testing/fake-store.ts";\nimport fs from "node:fs";\n',
  "src/config/schedule.test.ts": 'import fs from "node:fs";\nimport { fake } from "../testing/fake-store.ts";\n',
};

const violations = (extra: Record<string, string>) => findLayerViolations(repo({ ...CLEAN, ...extra }));

describe("importsOf", () => {
  test("finds static, dynamic, type-only, re-export, side-effect and multi-line imports, each on its own line", () => {
    const text = [
      "// Header: import nothing from './header-comment.ts'",
      'import a from "./static.ts";',
      'import type { B } from "./type-only.ts";',
      'export * from "./re-export-all.ts";',
      'export { g } from "./re-export-named.ts";',
      'export type { T } from "./re-export-type.ts";',
      'const d = await import("./dynamic.ts");',
      "import {",
      "  e,",
      "  type F,",
      '} from "./multi-line.ts";',
      'import "./side-effect.ts";',
      "/* import y from './block-comment.ts' */",
      'import x, * as ns from "node:fs";',
    ].join("\n");
    expect(importsOf(text)).toEqual([
      { spec: "./static.ts", line: 2 },
      { spec: "./type-only.ts", line: 3 },
      { spec: "./re-export-all.ts", line: 4 },
      { spec: "./re-export-named.ts", line: 5 },
      { spec: "./re-export-type.ts", line: 6 },
      { spec: "./dynamic.ts", line: 7 },
      { spec: "./multi-line.ts", line: 8 },
      { spec: "./side-effect.ts", line: 12 },
      { spec: "node:fs", line: 14 },
    ]);
  });

  test("import.meta and words like `imported` are not imports", () => {
    expect(importsOf('const dir = import.meta.dir;\nconst imported = "x";\nexport const n = 1;\n')).toEqual([]);
  });
});

describe("findCycles", () => {
  const edge = (from: string, to: string): ImportEdge => ({ from, to, line: 1 });

  test("a chain is no cycle; a loop through three files is one, listed once", () => {
    expect(findCycles([edge("a", "b"), edge("b", "c")])).toEqual([]);
    expect(findCycles([edge("a", "b"), edge("b", "c"), edge("c", "a"), edge("c", "d")])).toEqual([["a", "b", "c"]]);
  });

  test("two separate loops are two cycles; a file importing itself is one", () => {
    const cycles = findCycles([edge("a", "b"), edge("b", "a"), edge("x", "y"), edge("y", "x"), edge("s", "s")]);
    expect(cycles.map((c) => c.sort()).sort()).toEqual([["a", "b"], ["s"], ["x", "y"]]);
  });
});

describe("findLayerViolations", () => {
  test("a tree that follows the table has no violation (tests and src/testing may import anything)", () => {
    expect(findLayerViolations(repo(CLEAN))).toEqual([]);
  });

  test("a forbidden edge: store/ importing cli/, with file and line", () => {
    expect(
      violations({
        "src/cli/run.ts": 'import { open } from "../store/store.ts";\nexport const run = open;\n',
        "src/store/trash.ts": '// Trash.\nimport { run } from "../cli/run.ts";\n',
      }),
    ).toEqual(["src/store/trash.ts:2: store/ may not import cli/ (src/cli/run.ts)"]);
  });

  test("a folder missing from the table is named", () => {
    expect(violations({ "src/gadgets/x.ts": "export const x = 1;\n" })).toEqual([
      "src/gadgets/x.ts: folder src/gadgets is not in the layer table (build/check-layers.ts)",
    ]);
  });

  test("an import cycle, even inside one folder, where every edge is allowed", () => {
    expect(
      violations({
        "src/io/a.ts": 'import { b } from "./b.ts";\nexport const a = 1;\n',
        "src/io/b.ts": 'import { a } from "./a.ts";\nexport const b = 2;\n',
      }),
    ).toEqual([expect.stringMatching(/^import cycle among: src\/io\/(a\.ts, src\/io\/b|b\.ts, src\/io\/a)\.ts$/)]);
  });

  test("a pure module doing I/O: importing node:fs, fs/promises or bun, or calling Bun.* or setTimeout", () => {
    expect(
      violations({
        "src/config/load.ts": [
          'import fs from "node:fs";',
          'import { readFile } from "fs/promises";',
          'import { $ } from "bun";',
          "export const size = Bun.file('x').size; // Bun.file in a comment is fine",
          "setTimeout(() => undefined, 1);",
        ].join("\n"),
      }),
    ).toEqual([
      "src/config/load.ts:1: pure module imports node:fs",
      "src/config/load.ts:2: pure module imports fs/promises",
      "src/config/load.ts:3: pure module imports bun",
      "src/config/load.ts:4: pure module uses Bun.",
      "src/config/load.ts:5: pure module uses setTimeout(",
    ]);
  });

  test("a file marked `// Pure:` outside the pure folders is held to the same rule, and so is what it imports", () => {
    expect(
      violations({
        "src/store/audit-chain.ts":
          '// Pure: hashes in, verdicts out.\nimport fs from "node:fs";\nimport { read } from "../io/files.ts";\n',
      }),
    ).toEqual([
      "src/store/audit-chain.ts:2: pure module imports node:fs",
      "src/store/audit-chain.ts:3: pure module imports src/io/files.ts, which is not pure",
    ]);
  });

  test("shipped code importing a test helper (src/testing/, test-fixtures.ts, a test file) is refused", () => {
    expect(
      violations({
        "src/store/test-fixtures.ts": "export const fixture = 1;\n",
        "src/store/catalog.ts": [
          'import { fake } from "../testing/fake-store.ts";',
          'import { fixture } from "./test-fixtures.ts";',
          'export type { X } from "./store.test.ts";',
        ].join("\n"),
      }),
    ).toEqual([
      "src/store/catalog.ts:1: shipped code imports test-only src/testing/fake-store.ts",
      "src/store/catalog.ts:2: shipped code imports test-only src/store/test-fixtures.ts",
      "src/store/catalog.ts:3: shipped code imports test-only src/store/store.test.ts",
    ]);
  });
});
