// End to end: the server's hash-chained audit log after real backups, and `hashrelay server audit --check` against edits, deletions and a cut tail.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { makeWorld, runBinary, runClientOnce, startServer, tempDir, type ServerProcess, type World } from "../testing/e2e-harness.ts";

let world: World;
let server: ServerProcess | undefined;
let logFile: string;
let original: Buffer;
let firstArchive: string;
let secondArchive: string;

const check = (...extra: string[]) => runBinary(["server", "audit", "--config", world.serverConfig, "--check", ...extra]);

beforeAll(async () => {
  const data = tempDir("audit-data");
  fs.mkdirSync(path.join(data, "site"));
  fs.writeFileSync(path.join(data, "site", "index.html"), "<h1>one</h1>\n".repeat(2000));
  world = await makeWorld([path.join(data, "site")]);
  logFile = path.join(world.storage, ".audit", "audit.log");
  server = await startServer(world);
  const first = runClientOnce(world);
  expect(first.status).toBe(0);
  firstArchive = first.report.results[0]!.archive!;
  // Archive names carry the second: the next one must not share it.
  await Bun.sleep(1100);
  fs.writeFileSync(path.join(data, "site", "index.html"), "<h1>two</h1>\n".repeat(2000));
  const second = runClientOnce(world);
  expect(second.status).toBe(0);
  secondArchive = second.report.results[0]!.archive!;
});
afterAll(async () => {
  await server?.stop();
});

test("two backups leave accept, accept, supersede, trash; the check passes while the server runs", () => {
  original = fs.readFileSync(logFile);
  const lines = original
    .toString()
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(lines.map((l) => [l.event, l.file])).toEqual([
    ["accept", firstArchive],
    ["accept", secondArchive],
    ["supersede", firstArchive],
    ["trash", firstArchive],
  ]);
  expect(lines[1]).toMatchObject({
    client: "web01",
    name: "site",
    size: fs.statSync(path.join(world.storage, "web01", secondArchive)).size,
  });
  expect(fs.statSync(logFile).mode & 0o777).toBe(0o640);

  const result = check();
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/^audit log intact: 4 lines, head 4:[0-9a-f]{64}\n$/);
  const head = result.stdout.match(/head (\S+)/)![1]!;
  expect(check("--expect", head).status).toBe(0);
  const json = JSON.parse(check("--json").stdout);
  expect(json).toMatchObject({ ok: true, lines: 4, head });

  const listed = runBinary(["server", "audit", "--config", world.serverConfig]);
  expect(listed.status).toBe(0);
  expect(listed.stdout.split("\n")[2]).toMatch(
    new RegExp(`^\\s+3  \\S+  supersede  web01/site  ${firstArchive.replace(/\./g, "\\.")}  → ${secondArchive.replace(/\./g, "\\.")}$`),
  );
  expect(runBinary(["server", "audit", "--config", world.serverConfig, "--json"]).stdout).toBe(original.toString());
});

test("an edited byte, a deleted line, a cut-off last line each fail the check with exit 1, naming the line", async () => {
  await server!.stop();
  server = undefined;
  const lines = original.toString().split("\n");

  const edited = Buffer.from(original);
  const at = lines[0]!.length + 1 + lines[1]!.indexOf('"size":') + 7;
  edited[at] = edited[at] === 0x39 ? 0x38 : edited[at]! + 1;
  fs.writeFileSync(logFile, edited);
  let result = check();
  expect(result.status).toBe(1);
  expect(result.stdout).toBe("");
  expect(result.stderr).toContain("line 3's prev is not the hash of line 2: line 2 was edited");

  fs.writeFileSync(logFile, [lines[0], lines[2], lines[3], ""].join("\n"));
  result = check();
  expect(result.status).toBe(1);
  expect(result.stderr).toContain("line 2 has seq 3, expected 2");

  fs.writeFileSync(logFile, [lines[0], lines[1], lines[2], ""].join("\n"));
  result = check();
  expect(result.status).toBe(1);
  expect(result.stderr).toContain("the log ends at line 3 but the head file names line 4");
  expect(JSON.parse(check("--json").stdout)).toMatchObject({ ok: false, line: 4 });

  // Cut and the head file rewritten to match: only the head an admin kept elsewhere (--expect) tells.
  const headFile = path.join(world.storage, ".audit", "audit.head");
  const kept = fs.readFileSync(headFile, "utf8").trim();
  fs.writeFileSync(headFile, `3:${createHash("sha256").update(lines[2]!).digest("hex")}\n`);
  expect(check().status).toBe(0);
  result = check("--expect", kept);
  expect(result.status).toBe(1);
  expect(result.stderr).toContain("--expect names line 4");
  fs.writeFileSync(headFile, kept + "\n");
  expect(check("--expect", "nonsense").status).toBe(2);
});

test("the next server start records the mismatch in the chain, which then checks intact", async () => {
  fs.writeFileSync(logFile, original.toString().split("\n").slice(0, 3).join("\n") + "\n");
  server = await startServer(world);
  await server.waitForLog("audit.recovered");
  const result = check();
  expect(result.status).toBe(0);
  expect(result.stdout).toContain("audit log intact: 4 lines");
  expect(result.stdout).toContain("recovery recorded at line 4");
  const listed = runBinary(["server", "audit", "--config", world.serverConfig]).stdout;
  expect(listed).toMatch(/4 {2}\S+ {2}recovered .*the head file names line 4 but the log ends at line 3/);
});
