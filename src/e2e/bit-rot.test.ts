// End to end, bit rot (issue 17): a byte flipped with its mtime kept in a reused member, in a member header's length field, and in the latest archive of an unchanged source; each time the next tick repairs it and restore gives the tree back byte for byte.
//
// Cost: three sources of 2-4 MiB of noise, seven ticks, seven restores, and one
// wait for the scheduled scrub (server.scrub: 10s, turned on for the last test): about 8-10 s here.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  touchLike,
  treeFacts,
  writeNoiseFiles,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

let world: World;
let server: ServerProcess;
let data: string;

const source = (name: string) => path.join(data, name);
const stored = (file: string) => path.join(world.storage, "web01", file);
/** The stored archive of source `name` (retention keeps one). */
function latestOf(name: string): string {
  const files = fs.readdirSync(path.join(world.storage, "web01")).filter((f) => f.startsWith(`backup-${name}-`));
  expect(files.length).toBe(1);
  return files[0]!;
}

/** One `client --once` tick that must succeed for every source; its results by name. */
function tick(): Map<string, { status: string; archive: string | null; error?: string }> {
  const run = runClientOnce(world);
  expect(run.report.results.map((r) => `${r.name} ${r.status} ${r.error ?? ""}`.trim())).toEqual(
    run.report.results.map((r) => `${r.name} ${r.status}`),
  );
  expect(run.status).toBe(0);
  return new Map(run.report.results.map((r) => [r.name, r]));
}

/** `hashrelay restore NAME` into a fresh folder; the restored tree must equal the source's, byte for byte (content, modes, mtimes). */
function expectRestored(name: string): void {
  const to = path.join(tempDir(`rot-restore-${name}`), "out");
  const result = runBinary(["restore", name, "--config", world.clientConfig, "--to", to]);
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  expect(spawnSync("diff", ["-r", "--no-dereference", source(name), path.join(to, name)]).status).toBe(0);
  expect(treeFacts(path.join(to, name))).toEqual(treeFacts(source(name)));
}

/** Writes server.scrub into the server's config (before the first `retention:` line, or in place of the last value). */
function setScrub(value: string): void {
  const config = fs.readFileSync(world.serverConfig, "utf8").replace(/ {2}scrub: .*\n/, "");
  fs.writeFileSync(world.serverConfig, config.replace("  retention:\n", `  scrub: ${value}\n  retention:\n`));
}

/** XORs `mask` into the byte at `at` of `file` and puts its exact mtime back, as bit rot does. */
function flipAt(file: string, at: number, mask: number): void {
  const stamp = `${file}.stamp`;
  touchLike(file, stamp);
  const fd = fs.openSync(file, "r+");
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, at);
  byte[0] = byte[0]! ^ mask;
  fs.writeSync(fd, byte, 0, 1, at);
  fs.closeSync(fd);
  touchLike(stamp, file);
  fs.rmSync(stamp);
}

/** Offsets of the members of a .tar.gz archive: each one's header says its length (PROTOCOL.md §8.3), fillers are skipped. */
function memberOffsets(file: string): number[] {
  const bytes = fs.readFileSync(file);
  const offsets: number[] = [];
  for (let at = 0; at < bytes.length; ) {
    const sub = bytes.toString("latin1", at + 12, at + 14);
    if (sub === "HR") {
      offsets.push(at);
      at += bytes.readUInt32LE(at + 16);
    } else at += 10 + 2 + bytes.readUInt16LE(at + 10) + 10; // a filler: header, XLEN, extra field, empty block and trailer
  }
  return offsets;
}

beforeAll(async () => {
  data = tempDir("rot-data");
  // two sources with the same files: their archives share every chunk of file content
  writeNoiseFiles(source("small"), 7, 8, 512 * 1024, "part");
  writeNoiseFiles(source("twin"), 7, 8, 512 * 1024, "part");
  // and one whose chunks no other archive holds
  writeNoiseFiles(source("solo"), 9, 4, 512 * 1024, "part");
  world = await makeWorld([source("small"), source("twin"), source("solo")]);
  // no scrub until the last test turns it on: the first two show what a commit finds by itself
  setScrub("off");
  server = await startServer(world);
  const first = tick();
  expect([...first.values()].map((r) => r.status)).toEqual(["sent", "sent", "sent"]);
});
afterAll(async () => {
  await server?.stop();
});

test("a reused member rotten: the changed source takes the intact copy the other source's archive holds, in the same tick", async () => {
  // small's next archive reuses the members of small's last one (runs go on in one file): the rot is met there
  const small = stored(latestOf("small"));
  flipAt(small, Math.floor(fs.statSync(small).size * 0.56), 0x40); // inside the content of a file both sources hold
  fs.writeFileSync(path.join(source("small"), "new.txt"), "a change\n");
  const results = tick();
  expect([results.get("small")!.status, results.get("twin")!.status]).toEqual(["sent", "unchanged"]);
  // found by that commit, which took the copy in twin's archive instead (the server's stderr is read once the tick is over)
  await server.waitForLog(/by=commit damagedMembers=1 .* archive\.damaged/);
  await server.waitForLog("commit.healing");
  // and in the audit log
  const audit = runBinary(["server", "audit", "--config", world.serverConfig]);
  expect(audit.stdout).toMatch(new RegExp(`damaged +web01/small +${path.basename(small)} +found by commit: 1 damaged member`));
  expect(fs.existsSync(small)).toBe(false); // superseded by a good archive: in the trash
  expectRestored("small");
  expectRestored("twin");
});

test("a flip in a member header's length field: tar -xzf still reads the archive, the next tick finds it and stores a good one", async () => {
  const small = stored(latestOf("small"));
  const offsets = memberOffsets(small);
  flipAt(small, offsets[Math.floor(offsets.length * 0.56)]! + 16, 0x01); // the low byte of the "HR" length
  // gzip readers skip the extra field: the rotten archive still extracts with plain tar
  expect(spawnSync("tar", ["-xzf", small, "-C", tempDir("rot-tar")]).status).toBe(0);
  fs.writeFileSync(path.join(source("small"), "new.txt"), "another change\n");
  const results = tick();
  expect([results.get("small")!.status, results.get("twin")!.status]).toEqual(["sent", "unchanged"]);
  // the member's bytes no longer have their recorded SHA-256: found by the commit, the second finding of this file
  await server.waitForLog(/(by=commit damagedMembers=1 [^\n]*archive\.damaged[\s\S]*){2}/);
  expect(fs.existsSync(small)).toBe(false);
  expectRestored("small");
  expectRestored("twin");
});

test("a reused member rotten with no intact copy anywhere: the commit fails, the client offers the source again and sends that chunk", async () => {
  const solo = stored(latestOf("solo"));
  flipAt(solo, Math.floor(fs.statSync(solo).size * 0.6), 0x20);
  fs.writeFileSync(path.join(source("solo"), "new.txt"), "a change\n");
  const results = tick();
  expect(results.get("solo")!.status).toBe("sent");
  expect(results.get("solo")!.archive).not.toBe(path.basename(solo));
  await server.waitForLog(/no intact copy is stored/);
  expectRestored("solo");
});

test("the latest archive of an unchanged source rotten: the scheduled scrub finds it, status shows it, the next tick repairs it", async () => {
  const rotten = latestOf("twin");
  const twin = stored(rotten);
  flipAt(twin, Math.floor(fs.statSync(twin).size / 3), 0x02);
  // the whole store read every 10 s (a reload turns it on)
  setScrub("10s");
  server.child.kill("SIGHUP");
  await server.waitForLog("config applied (SIGHUP)");
  await server.waitForLog(`scrub: web01/${rotten} is damaged`, 60_000);
  const status = runBinary(["status", "--config", world.serverConfig]);
  expect(status.stdout).toContain(`DAMAGED web01/${rotten}  found by scrub`);
  const results = tick();
  expect(results.get("small")!.status).toBe("unchanged");
  // stored again under a new name; "unchanged" all the same when small's archive held the damaged chunk (nothing travelled)
  expect(results.get("twin")!.archive).not.toBe(rotten);
  expectRestored("twin");
  // the damaged archive waits in the trash; the repaired one is what the next claim gets
  expect(fs.existsSync(twin)).toBe(false);
  expect([...tick().values()].map((r) => r.status)).toEqual(["unchanged", "unchanged", "unchanged"]);
}, 120_000);
