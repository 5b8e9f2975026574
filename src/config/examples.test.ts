import { describe, expect, test } from "bun:test";
import Ajv2020 from "ajv/dist/2020";
import fs from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import schema from "../../config/hashrelay.schema.json";
import { formatIssue, parseConfig } from "./parse-config.ts";

const root = path.resolve(import.meta.dir, "../..");
const files = [
  "hashrelay.example.yaml",
  ...fs
    .readdirSync(path.join(root, "examples"))
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => `examples/${f}`),
];

describe("shipped configs", () => {
  test("there is the example and 2-3 ready-to-edit configs", () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  for (const file of files) {
    test(`${file} validates`, () => {
      const text = fs.readFileSync(path.join(root, file), "utf8");
      const result = parseConfig(text, path.join(root, file), { hostname: "example-host" });
      expect(result.ok ? [] : result.issues.map(formatIssue)).toEqual([]);
      // The raw schema agrees, as an editor using it would.
      expect(new Ajv2020({ strict: true }).validate(schema, parse(text))).toBe(true);
    });

    test(`${file} points editors at the schema`, () => {
      const first = fs.readFileSync(path.join(root, file), "utf8").split("\n")[0]!;
      const match = /^# yaml-language-server: \$schema=(.+)$/.exec(first);
      expect(match).not.toBeNull();
      expect(path.resolve(path.dirname(path.join(root, file)), match![1]!)).toBe(path.join(root, "config/hashrelay.schema.json"));
    });
  }

  test("the example is commented on every line that sets a key", () => {
    const lines = fs.readFileSync(path.join(root, "hashrelay.example.yaml"), "utf8").split("\n");
    const uncommented = lines.filter((l) => /^\s*-?\s*[A-Za-z]+:/.test(l) && !l.includes("#"));
    expect(uncommented).toEqual([]);
  });

  test("the example's schedule and retention read as their comments say", () => {
    const result = parseConfig(fs.readFileSync(path.join(root, "hashrelay.example.yaml"), "utf8"), "/x/hashrelay.yaml");
    expect(result.ok && result.config.client?.schedule).toEqual({ kind: "every", intervalMs: 30 * 60_000 });
    expect(result.ok && result.config.server?.retention).toEqual({
      keep: 1,
      trashForMs: 48 * 3_600_000,
      suspect: { maxShared: 0.1, ratioJump: 0.15, minRatio: 0.2, releaseAfter: 0 },
    });
  });
});
