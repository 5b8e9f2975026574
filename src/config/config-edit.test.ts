import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import fs from "node:fs";
import path from "node:path";
import { addSourceText, removeSourceText, scalar } from "./config-edit.ts";
import { parseConfig } from "./parse-config.ts";

const data = (name: string) => fs.readFileSync(path.join(import.meta.dir, "testdata", name), "utf8");
const commented = data("commented.yaml");

/** Lines of `after` that are not in `before`, and the reverse, by a plain LCS: what a reviewer's diff shows. */
function lineDiff(before: string, after: string): { added: string[]; removed: string[] } {
  const a = before.split("\n");
  const b = after.split("\n");
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const added: string[] = [];
  const removed: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) i++, j++;
    else if (j < b.length && (i === a.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) added.push(b[j++]!);
    else removed.push(a[i++]!);
  }
  return { added, removed };
}

describe("addSourceText on a file full of comments (golden)", () => {
  test("a bare path: only its one line is added, at the list's indentation, after the last item", () => {
    const out = addSourceText(commented, { path: "/usr" });
    expect(out).toBe(data("commented.add.golden.yaml"));
    expect(lineDiff(commented, out)).toEqual({ added: ["    - /usr"], removed: [] });
  });

  test("with a name and excludes: a mapping item aligned with the others", () => {
    const out = addSourceText(commented, { path: "/usr", name: "system", exclude: ["*.tmp", "share/doc/"] });
    expect(out).toBe(data("commented.add-options.golden.yaml"));
    expect(lineDiff(commented, out)).toEqual({
      added: ["    - path: /usr", "      name: system", '      exclude: ["*.tmp", "share/doc/"]'],
      removed: [],
    });
  });

  test("the result is a valid config whose sources are the old ones plus the new one", () => {
    const out = addSourceText(commented, { path: "/srv/my data: 2026", name: "srv data" });
    const result = parseConfig(out, "/etc/hashrelay/hashrelay.yaml");
    expect(result.ok && result.config.client!.paths.map((s) => [s.path, s.name])).toEqual([
      ["/etc", "etc"],
      ["/var/www", "www"],
      ["/srv/my data: 2026", "srv-data"],
    ]);
  });
});

describe("removeSourceText", () => {
  test("removes the item's own line and nothing else: comments around it stay (golden)", () => {
    const out = removeSourceText(commented, 0);
    expect(out).toBe(data("commented.remove-etc.golden.yaml"));
    expect(lineDiff(commented, out)).toEqual({ added: [], removed: ["    - /etc                          # backup-etc-....tar.gz"] });
  });

  test("removes every line of a mapping item", () => {
    const out = removeSourceText(commented, 1);
    expect(lineDiff(commented, out).removed).toEqual([
      "    - path: /var/www",
      "      name: www                     # short name",
      `      exclude: ['*.log', "cache/"]  #   keep these out`,
    ]);
    expect(lineDiff(commented, out).added).toEqual([]);
  });

  test("add then remove gives the file back byte for byte", () => {
    expect(removeSourceText(addSourceText(commented, { path: "/usr", name: "u", exclude: ["x"] }), 2)).toBe(commented);
  });
});

describe("flow lists and layouts", () => {
  const flow = "version: 1\nclient:   # me\n  paths: [/etc, { path: /var/www, name: www }]   # two\n  key: ./k\n";

  test("a flow list grows in flow style on its own line", () => {
    expect(addSourceText(flow, { path: "/usr" })).toBe(
      "version: 1\nclient:   # me\n  paths: [/etc, { path: /var/www, name: www }, /usr]   # two\n  key: ./k\n",
    );
    expect(addSourceText(flow, { path: "/a b", name: "ab" })).toContain(
      'paths: [/etc, { path: /var/www, name: www }, { path: "/a b", name: ab }]   # two',
    );
    expect(addSourceText("client:\n  paths: []\n", { path: "/x" })).toBe("client:\n  paths: [/x]\n");
  });

  test("removing from a flow list takes one comma with the item", () => {
    expect(removeSourceText(flow, 0)).toBe("version: 1\nclient:   # me\n  paths: [{ path: /var/www, name: www }]   # two\n  key: ./k\n");
    expect(removeSourceText(flow, 1)).toBe("version: 1\nclient:   # me\n  paths: [/etc]   # two\n  key: ./k\n");
  });

  test("a list at the key's own indentation, a file without a final newline, wide dashes kept", () => {
    expect(addSourceText("client:\n  paths:\n  - /etc", { path: "/usr" })).toBe("client:\n  paths:\n  - /etc\n  - /usr\n");
    expect(addSourceText("client:\n    paths:\n        -   /etc\n", { path: "/usr", name: "u" })).toBe(
      "client:\n    paths:\n        -   /etc\n        -   path: /usr\n            name: u\n",
    );
  });

  test("no client section, or paths not a list: refused with a hint", () => {
    expect(() => addSourceText("version: 1\nserver:\n  key: k\n", { path: "/x" })).toThrow("no client: section");
    expect(() => addSourceText("client:\n  paths: /etc\n", { path: "/x" })).toThrow("client.paths is not a list");
    expect(() => addSourceText("client: [\n", { path: "/x" })).toThrow("not valid YAML");
    expect(() => removeSourceText(flow, 5)).toThrow("no item 5");
  });
});

describe("scalar", () => {
  test("plain only when YAML reads it back as the same string", () => {
    expect(scalar("/var/www")).toBe("/var/www");
    expect(scalar("true")).toBe('"true"');
    expect(scalar("123")).toBe('"123"');
    expect(scalar("/a #b")).toBe('"/a #b"');
    expect(scalar("/a,b")).toBe('"/a,b"');
    expect(scalar("-x")).toBe('"-x"');
  });
});

describe("property: any path, name and patterns", () => {
  // addSourceText itself refuses any result whose client.paths does not read back as old + new (checkResult).
  test("an added source reads back exactly, and the diff holds only added lines; removing it restores the file", () => {
    const text = fc
      .string({ unit: "grapheme", minLength: 1, maxLength: 30 })
      .filter((t) => t.trim() === t && !/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(t));
    fc.assert(
      fc.property(text, fc.option(text, { nil: undefined }), fc.array(text, { maxLength: 3 }), (tail, name, exclude) => {
        const source = { path: `/${tail}`, name, exclude };
        const out = addSourceText(commented, source);
        expect(removeSourceText(out, 2)).toBe(commented);
        expect(lineDiff(commented, out).removed).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
