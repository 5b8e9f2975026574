// End to end: `client --once` shows bars on a terminal (a real pty through script(1)), plain lines elsewhere; --json stays one object on stdout.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ensureBinary, makeWorld, runBinary, startServer, tempDir, type ServerProcess, type World } from "../testing/e2e-harness.ts";

let world: World;
let server: ServerProcess;
let sources: string[];

beforeAll(async () => {
  const dir = tempDir("progress");
  sources = ["alpha", "beta"].map((name) => path.join(dir, name));
  for (const s of sources) {
    fs.mkdirSync(s);
    fs.writeFileSync(path.join(s, "data.bin"), randomBytes(2 * 1024 * 1024));
  }
  world = await makeWorld(sources);
  server = await startServer(world);
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

test("off a terminal: one line per source when it starts and one when it ends, on stderr; stdout is exactly one JSON object", () => {
  const run = runBinary(["client", "--once", "--json", "--config", world.clientConfig]);
  expect(run.status).toBe(0);
  expect(run.stdout.endsWith("}\n")).toBe(true);
  expect(run.stdout.trimEnd().split("\n")).toHaveLength(1);
  const report = JSON.parse(run.stdout);
  expect(report.results.map((r: { status: string }) => r.status)).toEqual(["sent", "sent"]);
  expect(run.stderr).not.toContain("\r");
  const progressLines = run.stderr.split("\n").filter((l) => /^(alpha|beta): /.test(l));
  expect(progressLines).toEqual([
    "alpha: started",
    expect.stringMatching(/^alpha: sent [\d.]+ MiB \(\d+ of \d+ chunks\), 2\.0 MiB hashed in \d+\.\d s$/),
    "beta: started",
    expect.stringMatching(/^beta: sent [\d.]+ MiB \(\d+ of \d+ chunks\), 2\.0 MiB hashed in \d+\.\d s$/),
  ]);
}, 60_000);

const hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;
test.skipIf(!hasScript)(
  "on a terminal: a bar per source with bytes hashed, bytes sent, rate and ETA, ended by a full bar",
  () => {
    for (const s of sources) fs.writeFileSync(path.join(s, "data.bin"), randomBytes(2 * 1024 * 1024));
    const command = `${ensureBinary()} client --once --config ${world.clientConfig}`;
    const run = spawnSync("script", ["-qefc", command, "/dev/null"], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, COLUMNS: "150", TERM: "xterm" },
    });
    expect(run.status).toBe(0);
    const out = run.stdout;
    // bars are redrawn in place: carriage return + erase line, then the bar
    const bars = out.split("\r\x1b[K").filter((s) => /^(alpha|beta) +\[[#-]{24}\] +\d+%/.test(s));
    expect(bars.length).toBeGreaterThanOrEqual(2);
    expect(
      bars.some((b) =>
        /^alpha +\[[#-]{24}\] +\d+% +[\d.]+ [KMG]?i?B hashed +[\d.]+ [KMG]?i?B sent +[\d.]+ [KMG]?i?B\/s +ETA (\d+:\d\d|\?)/.test(b),
      ),
    ).toBe(true);
    for (const name of ["alpha", "beta"]) {
      expect(out).toMatch(
        new RegExp(`${name} +\\[#{24}\\] 100%  sent [\\d.]+ MiB \\(\\d+ of \\d+ chunks\\), 2\\.0 MiB hashed in \\d+\\.\\d s\\r?\\n`),
      );
    }
    // the human summary still follows on stdout
    expect(out).toMatch(/server up/);
  },
  60_000,
);

test("--log-format json off a terminal: no progress lines, the log file holds one JSON object per line", () => {
  fs.writeFileSync(path.join(sources[0]!, "more.txt"), "more\n");
  const run = runBinary(["client", "--once", "--json", "--log-format", "json", "--config", world.clientConfig]);
  expect(run.status).toBe(0);
  for (const line of run.stderr.trimEnd().split("\n"))
    expect(JSON.parse(line)).toMatchObject({ time: expect.any(String), level: expect.any(String), msg: expect.any(String) });
  const lines = fs.readFileSync(path.join(world.state, "hashrelay.log"), "utf8").trimEnd().split("\n");
  const jsonLines = lines.filter((l) => l.startsWith("{"));
  expect(jsonLines.length).toBeGreaterThan(0);
  expect(jsonLines.map((l) => JSON.parse(l).msg)).toContain("backup of alpha sent");
  expect(runBinary(["client", "--once", "--log-format", "xml", "--config", world.clientConfig]).status).toBe(2);
}, 60_000);
