import { describe, expect, test } from "bun:test";
import Ajv2020 from "ajv/dist/2020";
import { build } from "esbuild";
import path from "node:path";
import schema from "../../config/hashrelay.schema.json";
import { helpedKeys } from "./key-help.ts";

type Schema = Record<string, unknown>;

/** Every object schema reachable from the root, with the dotted key it describes ("client.paths[]"). */
function objectSchemas(): { key: string; schema: Schema }[] {
  const defs = (schema as unknown as { $defs: Record<string, Schema> }).$defs;
  const out: { key: string; schema: Schema }[] = [];
  const visit = (s: Schema, key: string): void => {
    const target = typeof s.$ref === "string" ? defs[s.$ref.replace("#/$defs/", "")]! : s;
    for (const branch of ["then", "else"]) if (target[branch]) visit(target[branch] as Schema, key);
    if (target.properties) {
      out.push({ key, schema: target });
      for (const [name, sub] of Object.entries(target.properties as Record<string, Schema>))
        visit(sub, key === "(root)" ? name : `${key}.${name}`);
    }
    if (target.items) visit(target.items as Schema, `${key}[]`);
  };
  visit(schema as Schema, "(root)");
  return out;
}

describe("config/hashrelay.schema.json", () => {
  test("compiles with ajv in strict mode", () => {
    const validate = new Ajv2020({ strict: true, allErrors: true }).compile(schema);
    expect(validate({ version: 1, server: { key: "k", clients: [{ name: "a", key: `ed25519:${"A".repeat(43)}=` }] } })).toBe(true);
    expect(validate({ version: 1 })).toBe(false);
  });

  test("closes every object and describes every key", () => {
    const objects = objectSchemas();
    expect(objects.map((o) => o.key)).toEqual([
      "(root)",
      "client",
      "client.paths[]",
      "server",
      "server.s3",
      "server.retention",
      "server.retention.suspect",
      "server.limits",
      "server.clients[]",
    ]);
    for (const { key, schema: s } of objects) {
      expect({ key, additionalProperties: s.additionalProperties }).toEqual({ key, additionalProperties: false });
      for (const [name, sub] of Object.entries(s.properties as Record<string, Schema>)) {
        expect({ key: `${key}.${name}`, hasDescription: typeof sub.description === "string" && sub.description.length > 10 }).toEqual({
          key: `${key}.${name}`,
          hasDescription: true,
        });
      }
    }
  });

  test("every key has a hint for messages", () => {
    const keys = objectSchemas().flatMap(({ key, schema: s }) =>
      Object.keys(s.properties as object).map((n) => (key === "(root)" ? n : `${key}.${n}`)),
    );
    const helped = new Set(helpedKeys());
    expect(keys.filter((k) => !helped.has(k))).toEqual([]);
  });

  test("says that cron runs on the wall clock of client.timezone, else of the machine", () => {
    const client = (schema as unknown as { properties: { client: { properties: { schedule: { description: string } } } } }).properties
      .client;
    expect(client.properties.schedule.description).toContain("wall clock of client.timezone, else of the machine");
  });

  test("bundles with esbuild through the JSON import", async () => {
    const result = await build({
      entryPoints: [path.join(import.meta.dir, "parse-config.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      write: false,
      logLevel: "silent",
    });
    expect(result.errors).toEqual([]);
    expect(result.outputFiles[0]!.text).toContain("ed25519:[A-Za-z0-9+/]{43}=$");
  });
});
