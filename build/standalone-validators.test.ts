import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { build, type BuildOptions, type Metafile } from "esbuild";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { formatIssue, parseConfig } from "../src/config/parse-config.ts";
import type { ControlType } from "../src/protocol/wire-schemas.ts";
import * as dev from "../src/protocol/wire-validators.ts";
import { AJV_COMPILER, standaloneValidators } from "./standalone-validators.ts";

const root = path.resolve(import.meta.dir, "..");
let staging = "";

/** Bundles `entry` as build/build.ts does (with or without the plugin); resolves with the metafile, or the build's error text. */
async function bundle(entry: string, out: string, withPlugin: boolean): Promise<{ metafile?: Metafile; error?: string }> {
  const options: BuildOptions = {
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: "node",
    format: "esm",
    external: ["bun", "bun:*"],
    logLevel: "silent",
    metafile: true,
    define: { HASHRELAY_BUNDLED: "true" },
    plugins: withPlugin ? [standaloneValidators(staging)] : [],
  };
  try {
    return { metafile: (await build(options)).metafile };
  } catch (e) {
    return { error: String(e) };
  }
}

const compilerInputs = (metafile?: Metafile) => Object.keys(metafile?.inputs ?? {}).filter((input) => AJV_COMPILER.test(input));

beforeAll(() => {
  staging = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-standalone-"));
});
afterAll(() => fs.rmSync(staging, { recursive: true, force: true }));

describe("the bundled binary holds no ajv compiler", () => {
  test("src/main.ts bundles without ajv's compiler or its new Function code path; without the plugin they are there", async () => {
    const withPlugin = await bundle(path.join(root, "src", "main.ts"), path.join(staging, "main.mjs"), true);
    expect(withPlugin.error).toBeUndefined();
    expect(compilerInputs(withPlugin.metafile)).toEqual([]);
    const code = fs.readFileSync(path.join(staging, "main.mjs"), "utf8");
    expect(code).not.toContain("node_modules/ajv/dist/compile/");
    expect(code).not.toContain("new Function(");
    expect(code).toContain("node_modules/ajv/dist/runtime/"); // the standalone code's small run-time helpers

    const without = await bundle(path.join(root, "src", "main.ts"), path.join(staging, "main-dev.mjs"), false);
    expect(compilerInputs(without.metafile).length).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(staging, "main-dev.mjs"), "utf8")).toContain("new Function(");
  });

  test("a module that reaches for ajv itself fails the build", async () => {
    const entry = path.join(staging, "sneaky.ts");
    fs.writeFileSync(
      entry,
      `import { Ajv2020 } from "${path.join(root, "node_modules", "ajv", "dist", "2020.js")}";\nconsole.log(new Ajv2020().compile({ type: "string" })("x"));\n`,
    );
    const result = await bundle(entry, path.join(staging, "sneaky.mjs"), true);
    expect(result.error).toContain("the bundle holds the ajv compiler");
  });
});

const HEX = "a".repeat(64);
const FILE = "backup-src-00-22-13-2026-11-26.tar.gz";
const WHEN = "2026-11-26T13:22:00.398Z";
const DOC = { body: "{}", sig: `${"A".repeat(86)}==`, key: `ed25519:${"B".repeat(43)}=` };

/** [what, validator name or control type, value, valid?]: every kind of keyword the wire schemas use. */
const WIRE_SAMPLES: [string, string, unknown, boolean][] = [
  ["welcome", "welcome", { type: "welcome", client: "web01", serverTime: 1 }, true],
  ["welcome, bad slug", "welcome", { type: "welcome", client: "Web 01", serverTime: 1 }, false],
  ["ping with configHash", "ping", { type: "ping", id: 3, configHash: HEX }, true],
  ["ping, id negative", "ping", { type: "ping", id: -1 }, false],
  ["ping, id not whole", "ping", { type: "ping", id: 1.5 }, false],
  ["ping, two faults (allErrors false: one reported)", "ping", { type: "ping", id: -1, extra: true }, false],
  ["pong, missing serverTime", "pong", { type: "pong", id: 1 }, false],
  ["offer, zstd", "offer", { type: "offer", name: "src", archiveId: HEX, format: "tar.zst" }, true],
  ["offer, unknown format", "offer", { type: "offer", name: "src", format: "zip" }, false],
  ["offer, extra field", "offer", { type: "offer", name: "src", extra: 1 }, false],
  ["have", "have", { type: "have", receipt: DOC }, true],
  ["have, short signature", "have", { type: "have", receipt: { ...DOC, sig: "AA==" } }, false],
  ["send-manifest", "send-manifest", { type: "send-manifest", base: true }, true],
  ["send-manifest, base as text", "send-manifest", { type: "send-manifest", base: "yes" }, false],
  ["commit, body too short", "commit", { type: "commit", manifest: { ...DOC, body: "x" } }, false],
  ["receipt", "receipt", { type: "receipt", receipt: DOC }, true],
  ["receipt, wrong type const", "receipt", { type: "have", receipt: DOC }, false],
  ["error", "error", { type: "error", code: "UNAUTHORIZED", message: "no" }, true],
  ["error, control character", "error", { type: "error", code: "UNAUTHORIZED", message: "a\u0007b" }, false],
  ["error, unknown code", "error", { type: "error", code: "NOPE", message: "no" }, false],
  ["bye", "bye", { type: "bye" }, true],
  ["list", "list", { type: "list", name: "src" }, true],
  ["fetch, manifestOnly false", "fetch", { type: "fetch", name: "src", file: FILE, manifestOnly: false }, false],
  ["fetch, bad file name", "fetch", { type: "fetch", name: "src", file: "../etc/passwd" }, false],
  ["prove", "prove", { type: "prove", name: "src", file: FILE, items: [{ index: 0, nonce: HEX }] }, true],
  ["prove, no items", "prove", { type: "prove", name: "src", file: FILE, items: [] }, false],
  [
    "proof, hash and error answers",
    "proof",
    {
      type: "proof",
      file: FILE,
      answers: [
        { index: 0, hash: HEX },
        { index: 1, error: "gone" },
      ],
    },
    true,
  ],
  ["proof, answer with both (oneOf)", "proof", { type: "proof", file: FILE, answers: [{ index: 0, hash: HEX, error: "x" }] }, false],
  ["fetching", "fetching", { type: "fetching", file: FILE, size: 10, chunks: 1, trashed: true }, true],
  [
    "listing",
    "listing",
    { type: "listing", archives: [{ name: "src", file: FILE, size: 1, archiveId: HEX, fileSha256: HEX, storedAt: WHEN }], more: false },
    true,
  ],
  [
    "listing, bad time",
    "listing",
    {
      type: "listing",
      archives: [{ name: "src", file: FILE, size: 1, archiveId: HEX, fileSha256: HEX, storedAt: "yesterday" }],
      more: false,
    },
    false,
  ],
  ["not an object", "bye", "bye", false],
  ["signed doc", "validateSignedDoc", DOC, true],
  ["signed doc, bad key", "validateSignedDoc", { ...DOC, key: "ssh-rsa AAAA" }, false],
  [
    "manifest body",
    "validateManifestBody",
    { v: 1, kind: "manifest", client: "web01", name: "src", file: FILE, archiveId: HEX, chunks: 4, rawSize: 9, createdAt: WHEN },
    true,
  ],
  [
    "manifest body, v 2",
    "validateManifestBody",
    { v: 2, kind: "manifest", client: "web01", name: "src", file: FILE, archiveId: HEX, chunks: 4, rawSize: 9, createdAt: WHEN },
    false,
  ],
  [
    "receipt body",
    "validateReceiptBody",
    { v: 1, kind: "receipt", client: "web01", name: "src", file: FILE, archiveId: HEX, fileSha256: HEX, size: 9, storedAt: WHEN },
    true,
  ],
  [
    "receipt body, size missing",
    "validateReceiptBody",
    { v: 1, kind: "receipt", client: "web01", name: "src", file: FILE, archiveId: HEX, fileSha256: HEX, storedAt: WHEN },
    false,
  ],
];

const K1 = "ed25519:iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=";
const SERVER = `server:\n  key: ./server.key\n  clients:\n    - name: web01\n      key: ${K1}\n`;
const CLIENT = `client:\n  server: nas.lan\n  serverKey: ${K1}\n  key: ./client.key\n  paths:\n    - /etc\n`;

/** [what, YAML text]: one config per way the schema findings word an error, and valid ones. */
const CONFIG_SAMPLES: [string, string][] = [
  ["the example config", fs.readFileSync(path.join(root, "hashrelay.example.yaml"), "utf8")],
  ...fs
    .readdirSync(path.join(root, "examples"))
    .filter((f) => f.endsWith(".yaml"))
    .map((f): [string, string] => [f, fs.readFileSync(path.join(root, "examples", f), "utf8")]),
  ["a client and a server", `version: 1\n${CLIENT}${SERVER}`],
  ["an empty file", ""],
  ["neither section (anyOf)", "version: 1\nport: 7373\n"],
  ["version 2 (const)", `version: 2\n${SERVER}`],
  ["version missing (required)", SERVER],
  ["port 0 (minimum)", `version: 1\nport: 0\n${SERVER}`],
  ["port 70000 (maximum)", `version: 1\nport: 70000\n${SERVER}`],
  [
    "wrong types",
    `version: 1\nport: "7373"\nclient:\n  name: 42\n  server: nas.lan\n  serverKey: ${K1}\n  key: ./client.key\n  paths: /etc\n`,
  ],
  ["an empty section", "version: 1\nclient:\n"],
  ["unknown keys, near and far", `version: 1\nprot: 1\n${SERVER}  retention:\n    purgeAfter: 48h\n`],
  [
    "empty paths (minItems), empty name (minLength)",
    `version: 1\nclient:\n  name: ""\n  server: nas.lan\n  serverKey: ${K1}\n  key: ./client.key\n  paths: []\n`,
  ],
  [
    "patterns: server with a space, bad key",
    `version: 1\nclient:\n  server: nas lan\n  serverKey: ssh-rsa\n  key: ./client.key\n  paths:\n    - /etc\n`,
  ],
  ["compression not in the enum", `version: 1\n${CLIENT}  compression: lz4\n`],
  [
    "a source mapping with a typo",
    `version: 1\nclient:\n  server: nas.lan\n  serverKey: ${K1}\n  key: ./client.key\n  paths:\n    - path: /var/www\n      exlude: [cache/]\n`,
  ],
  ["bad durations and sizes", `version: 1\n${SERVER}  retention:\n    keep: 0\n    trashFor: soon\n`],
  ["a client entry without its key", "version: 1\nserver:\n  key: ./server.key\n  clients:\n    - name: web01\n"],
];

describe("standalone validators answer as ajv compiled at run time", () => {
  let built: { validateControl: Record<ControlType, typeof dev.validateManifestBody> } & Record<string, typeof dev.validateManifestBody>;
  let builtParse: typeof parseConfig;
  let builtFormat: typeof formatIssue;

  beforeAll(async () => {
    const entry = path.join(staging, "entry.ts");
    fs.writeFileSync(
      entry,
      `export * from ${JSON.stringify(path.join(root, "src/protocol/wire-validators.ts"))};\nexport { parseConfig, formatIssue } from ${JSON.stringify(path.join(root, "src/config/parse-config.ts"))};\n`,
    );
    const out = path.join(staging, "entry.mjs");
    const result = await bundle(entry, out, true);
    expect(result.error).toBeUndefined();
    expect(compilerInputs(result.metafile)).toEqual([]);
    const mod = await import(out);
    built = mod;
    builtParse = mod.parseConfig;
    builtFormat = mod.formatIssue;
  });

  test("same exports: every control type has a standalone validator", () => {
    expect(Object.keys(built.validateControl).sort()).toEqual(Object.keys(dev.validateControl).sort());
    for (const name of ["validateManifestBody", "validateReceiptBody", "validateSignedDoc"]) expect(typeof built[name]).toBe("function");
  });

  test.each(WIRE_SAMPLES)("wire: %s", (_what, name, value, valid) => {
    const pick = (m: typeof built | typeof dev) =>
      name.startsWith("validate") ? (m as Record<string, typeof dev.validateManifestBody>)[name]! : m.validateControl[name as ControlType];
    const devFn = pick(dev);
    const builtFn = pick(built);
    expect(devFn(value)).toBe(valid);
    expect(builtFn(value)).toBe(valid);
    expect(builtFn.errors ?? null).toEqual(devFn.errors ?? null);
  });

  test.each(CONFIG_SAMPLES)("config: %s", (_what, text) => {
    const file = "/etc/hashrelay/hashrelay.yaml";
    const devResult = parseConfig(text, file, { hostname: "testhost" });
    const builtResult = builtParse(text, file, { hostname: "testhost" });
    if (!devResult.ok || !builtResult.ok) {
      expect(builtResult.ok ? [] : builtResult.issues.map(builtFormat)).toEqual(devResult.ok ? [] : devResult.issues.map(formatIssue));
    } else {
      expect(builtResult.config).toEqual(devResult.config);
    }
  });

  test("the config table exercises valid files and every kind of error wording", () => {
    const outcomes = CONFIG_SAMPLES.map(([, text]) => parseConfig(text, "/c.yaml", { hostname: "testhost" }));
    expect(outcomes.filter((r) => r.ok).length).toBeGreaterThanOrEqual(3);
    const messages = outcomes.flatMap((r) => (r.ok ? [] : r.issues.map(formatIssue))).join("\n");
    for (const wording of [
      "required key is missing",
      "unknown key",
      "expected a whole number",
      "is out of range",
      "the list is empty",
      "the value is empty",
      "neither a client nor a server",
      "the file is empty",
      "expected 1, got 2",
    ]) {
      expect(messages).toContain(wording);
    }
  });
});
