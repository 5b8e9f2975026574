// Builds dist/hashrelay: esbuild bundles src/main.ts, then `bun build --compile --bytecode` makes one executable.
import { build, type BuildOptions } from "esbuild";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { standaloneValidators } from "./standalone-validators.ts";

const root = path.resolve(import.meta.dir, "..");
// The bundles live in a temporary folder removed after the compile: the executable must not lean on
// files beside it (it is copied alone to /usr/local/bin), and tests run it exactly so.
const staging = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-build-"));
const bundle = path.join(staging, "hashrelay.cjs");
const workerBundle = path.join(staging, "worker.mjs");
const binary = path.join(root, "dist", "hashrelay");

const common: BuildOptions = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "esnext",
  external: ["bun", "bun:*"],
  logLevel: "warning",
  legalComments: "none",
  // Tells src/io/worker-pool.ts that its worker is the second entrypoint of the executable.
  define: { HASHRELAY_BUNDLED: "true" },
  // The JSON Schema validators as precompiled code: the binary does not load ajv's compiler at start.
  plugins: [standaloneValidators(staging)],
};
// The main bundle is CommonJS: esbuild then loads a builtin module (node:zlib, bun:sqlite, ...) where the
// module importing it is first evaluated, not all of them at start as ESM's hoisted imports do. With each
// command's work imported inside its run (src/cli/command.ts), `--version` peaks at ~33 MiB (ESM: 35-40),
// and a client whose sources are unchanged never loads zlib (~7 MiB). import.meta is used only when
// HASHRELAY_BUNDLED is false (src/io/worker-pool.ts), hence the silenced warning.
await build({
  ...common,
  format: "cjs",
  logOverride: { "empty-import-meta": "silent" },
  entryPoints: [path.join(root, "src", "main.ts")],
  outfile: bundle,
});
await build({ ...common, entryPoints: [path.join(root, "src", "worker.ts")], outfile: workerBundle });

const bun = process.execPath; // the pinned bun from node_modules runs this script
const compiled = spawnSync(bun, ["build", "--compile", "--bytecode", bundle, workerBundle, "--outfile", binary], {
  stdio: ["ignore", "ignore", "inherit"],
});
fs.rmSync(staging, { recursive: true, force: true });
if (compiled.status !== 0) {
  console.error("bun build --compile failed");
  process.exit(compiled.status ?? 1);
}
console.log(`built ${path.relative(process.cwd(), binary) || binary}`);
