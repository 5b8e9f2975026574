// `npm test`: the one gate. Provision, type-check, format, layer check, shellcheck, build the binary, bats, every test.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dir, "..");
const bin = path.join(root, "node_modules", ".bin");
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };

/** Seconds each step took, printed at the end (and before a failure) so a slow gate shows where. */
const timings: [string, number][] = [];

function printTimings(): void {
  console.log(`\n== time per step: ${timings.map(([title, s]) => `${title} ${s.toFixed(1)} s`).join(", ")}`);
}

/** Runs one step and records its time; on failure prints which step and exits with its status. */
function step(title: string, command: string, args: string[]): void {
  console.log(`\n== ${title}: ${command} ${args.join(" ")}`);
  const started = performance.now();
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", env });
  timings.push([title, (performance.now() - started) / 1000]);
  if (result.status !== 0) {
    printTimings();
    console.error(`\n== FAILED: ${title} (exit ${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
}

/** The shell scripts under `dir`, without those git ignores (the bench's real-files corpus holds other projects' scripts). */
function shellScripts(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const found = fs.readdirSync(dir, { recursive: true, withFileTypes: true }).flatMap((e) => {
    const p = path.join(e.parentPath, e.name);
    return e.isFile() && (e.name.endsWith(".sh") || e.name.endsWith(".bash")) ? [p] : [];
  });
  const ignored = spawnSync("git", ["check-ignore", "--stdin"], { cwd: root, input: found.join("\n"), encoding: "utf8" });
  const skip = new Set(ignored.status === 0 ? ignored.stdout.split("\n").filter(Boolean) : []);
  return found.filter((p) => !skip.has(p));
}

function batsFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? batsFiles(p) : e.name.endsWith(".bats") ? [p] : [];
  });
}

// Commands the tests drive (shellcheck, bats, debootstrap...): installed when root, named with the command to run when not.
step("provision", "bash", ["build/provision.sh"]);
step("types", "tsc", ["--noEmit", "-p", "tsconfig.json"]);
step("format", "biome", ["format", "."]);
step("layers", process.execPath, ["build/check-layers.ts"]);
const scripts = [
  ...shellScripts(path.join(root, "dependencies")),
  ...shellScripts(path.join(root, "build")),
  path.join(root, ".ci", "run"),
];
step("shellcheck", "shellcheck", ["-x", ...scripts.map((s) => path.relative(root, s))]);
step("build", process.execPath, ["build/build.ts"]);
if (batsFiles(path.join(root, "dependencies")).length > 0) step("bats", "bats", ["--recursive", "dependencies"]);
// bun test prints its summary as " N pass / N skip / N fail": echo it as one "N passed, N failed" line for CI.
console.log(`\n== tests: bun test`);
const testsStarted = performance.now();
// A temp folder of the run's own: each test file's leftovers go once the next file starts (src/testing/temp-cleanup.ts), the rest here.
const testTmp = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-gate-"));
fs.chmodSync(testTmp, 0o1777); // as /tmp: tests run commands as nobody, which must reach their folders
const tests = spawnSync(process.execPath, ["test", "--timeout", "120000", ...process.argv.slice(2)], {
  cwd: root,
  env: { ...env, TMPDIR: testTmp, HASHRELAY_TEST_TMPDIR: testTmp },
  stdio: ["ignore", "inherit", "pipe"],
  maxBuffer: 256 * 1024 * 1024,
});
timings.push(["tests", (performance.now() - testsStarted) / 1000]);
spawnSync("rm", ["-rf", "--one-file-system", testTmp]);
const report = tests.stderr.toString();
process.stderr.write(report);
const count = (word: string) => Number(report.match(new RegExp(`^\\s*(\\d+) ${word}$`, "m"))?.[1] ?? 0);
console.log(`\ntests: ${count("pass")} passed, ${count("fail")} failed, ${count("skip")} skipped`);
printTimings();
if (tests.status !== 0) {
  // CI keeps only the end of the log: repeat what each failing test printed, right before the verdict.
  console.error(`\n== failures, as printed above\n${failureBlocks(report).join("\n\n")}`);
  console.error(`\n== FAILED: tests (exit ${tests.status ?? tests.signal})`);
  process.exit(tests.status ?? 1);
}

/** Each "(fail)" line of a bun test report with the lines it printed before it (back to the previous test or file). */
function failureBlocks(report: string): string[] {
  const lines = report.split("\n");
  const blocks = new Map<string, string>();
  let start = 0;
  lines.forEach((line, i) => {
    if (line.startsWith("(fail) ") && !blocks.has(line))
      blocks.set(
        line,
        lines
          .slice(start, i + 1)
          .join("\n")
          .slice(-6000),
      );
    if (/^\((pass|fail|skip|todo)\) /.test(line) || /^\S.*\.test\.ts:$/.test(line)) start = i + 1;
  });
  return [...blocks.values()];
}
