// `npm test`: the one gate. Type-check, layer check, shellcheck (when scripts exist), build the binary, run every test.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dir, "..");
const bin = path.join(root, "node_modules", ".bin");
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };

function step(title: string, command: string, args: string[]): void {
  console.log(`\n== ${title}: ${command} ${args.join(" ")}`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env });
  if (result.status !== 0) {
    console.error(`\n== FAILED: ${title} (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

function shellScripts(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return shellScripts(p);
    return e.name.endsWith(".sh") || e.name.endsWith(".bash") ? [p] : [];
  });
}

function batsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? batsFiles(p) : e.name.endsWith(".bats") ? [p] : [];
  });
}

step("types", "tsc", ["--noEmit", "-p", "tsconfig.json"]);
step("format", "biome", ["format", "."]);
step("layers", process.execPath, ["build/check-layers.ts"]);
const scripts = shellScripts(path.join(root, "dependencies")).concat(path.join(root, ".ci", "run"));
if (scripts.length > 0) step("shellcheck", "shellcheck", ["-x", ...scripts.map((s) => path.relative(root, s))]);
step("build", process.execPath, ["build/build.ts"]);
if (batsFiles(path.join(root, "dependencies")).length > 0) step("bats", "bats", ["--recursive", "dependencies"]);
// bun test prints its summary as " N pass / N skip / N fail": echo it as one "N passed, N failed" line for CI.
console.log(`\n== tests: bun test`);
const tests = spawnSync(process.execPath, ["test", "--timeout", "120000", ...process.argv.slice(2)], {
  cwd: root,
  env,
  stdio: ["ignore", "inherit", "pipe"],
  maxBuffer: 256 * 1024 * 1024,
});
const report = tests.stderr.toString();
process.stderr.write(report);
const count = (word: string) => Number(report.match(new RegExp(`^\\s*(\\d+) ${word}$`, "m"))?.[1] ?? 0);
console.log(`\ntests: ${count("pass")} passed, ${count("fail")} failed, ${count("skip")} skipped`);
if (tests.status !== 0) {
  console.error(`\n== FAILED: tests (exit ${tests.status ?? tests.signal})`);
  process.exit(tests.status ?? 1);
}
