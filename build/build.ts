// Builds dist/hashrelay: esbuild bundles src/main.ts, then `bun build --compile --bytecode` makes one executable.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dir, "..");
const bundle = path.join(root, "dist", "hashrelay.mjs");
const binary = path.join(root, "dist", "hashrelay");

await build({
  entryPoints: [path.join(root, "src", "main.ts")],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "esnext",
  outfile: bundle,
  external: ["bun", "bun:*"],
  logLevel: "warning",
  legalComments: "none",
});

const bun = process.execPath; // the pinned bun from node_modules runs this script
const compiled = spawnSync(bun, ["build", "--compile", "--bytecode", bundle, "--outfile", binary], { stdio: ["ignore", "ignore", "inherit"] });
if (compiled.status !== 0) {
  console.error("bun build --compile failed");
  process.exit(compiled.status ?? 1);
}
console.log(`built ${path.relative(process.cwd(), binary) || binary}`);
