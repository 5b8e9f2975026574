// End to end: what the user checks after a backup — kept receipts offline, the server's scrub, `ls` over the session.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { keygen, makeWorld, runBinary, runClientOnce, startServer, tempDir, type ServerProcess, type World } from "../testing/e2e-harness.ts";

let world: World;
let server: ServerProcess;
let data: string;
let firstArchive: string;
let secondArchive: string;

/** Files of varied, poorly compressible content so the archive has many members. */
function writeSource(dir: string, seed: number): void {
  fs.mkdirSync(dir, { recursive: true });
  for (let f = 0; f < 3; f++) {
    const bytes = Buffer.alloc(300 * 1024);
    for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE((Math.imul(i + f * 7919 + seed * 104729, 2654435761) ^ (i >>> 5)) >>> 0, i);
    fs.writeFileSync(path.join(dir, `file-${f}.bin`), bytes);
  }
  fs.writeFileSync(path.join(dir, "note.txt"), `version ${seed}\n`);
}

beforeAll(async () => {
  data = tempDir("inspect-data");
  writeSource(path.join(data, "site"), 1);
  world = await makeWorld([path.join(data, "site")]);
  server = await startServer(world);
  const first = runClientOnce(world);
  expect(first.status).toBe(0);
  firstArchive = first.report.results[0]!.archive!;
  // Archive names carry the second: the next one must not share it.
  await Bun.sleep(1100);
  writeSource(path.join(data, "site"), 2);
  const second = runClientOnce(world);
  expect(second.status).toBe(0);
  secondArchive = second.report.results[0]!.archive!;
  expect(secondArchive).not.toBe(firstArchive);
});
afterAll(async () => {
  await server?.stop();
});

describe("receipt verify", () => {
  const receiptOf = (file: string) => path.join(world.state, "receipts", "site", `${file}.receipt.json`);

  test("a kept receipt verifies with the server's key and shows what it attests", () => {
    const result = runBinary(["receipt", "verify", receiptOf(secondArchive), "--server-key", world.serverPub]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("valid receipt");
    expect(result.stdout).toContain(secondArchive);
    expect(result.stdout).toMatch(/client\s+web01/);
    const stored = fs.statSync(path.join(world.storage, "web01", secondArchive)).size;
    expect(result.stdout).toContain(`${stored} bytes`);
    const json = JSON.parse(runBinary(["receipt", "verify", receiptOf(secondArchive), "--server-key", world.serverPub, "--json"]).stdout);
    expect(json.ok).toBe(true);
    expect(json.receipt.file).toBe(secondArchive);
    expect(json.receipt.fileSha256).toBe(new Bun.CryptoHasher("sha256").update(fs.readFileSync(path.join(world.storage, "web01", secondArchive))).digest("hex"));
  });

  test("a one-byte edit of the body fails with exit 4", () => {
    const doc = JSON.parse(fs.readFileSync(receiptOf(firstArchive), "utf8"));
    const at = doc.body.indexOf('"size":') + '"size":'.length;
    const digit = doc.body[at];
    doc.body = doc.body.slice(0, at) + (digit === "9" ? "8" : String(Number(digit) + 1)) + doc.body.slice(at + 1);
    const edited = path.join(tempDir("receipt"), "edited.receipt.json");
    fs.writeFileSync(edited, JSON.stringify(doc));
    const result = runBinary(["receipt", "verify", edited, "--server-key", world.serverPub]);
    expect(result.status).toBe(4);
    expect(result.stderr).toContain("does not verify");
    expect(result.stdout).toBe("");
  });

  test("another server's key fails with exit 4; a missing or non-JSON file exits 2", () => {
    const other = keygen(path.join(tempDir("otherkey"), "other.key"));
    const wrong = runBinary(["receipt", "verify", receiptOf(firstArchive), "--server-key", other]);
    expect(wrong.status).toBe(4);
    expect(wrong.stderr).toContain(`expected ${other}`);
    const missing = runBinary(["receipt", "verify", path.join(world.dir, "nope.json"), "--server-key", world.serverPub]);
    expect(missing.status).toBe(2);
    const garbage = path.join(world.dir, "garbage.json");
    fs.writeFileSync(garbage, "{not json");
    expect(runBinary(["receipt", "verify", garbage, "--server-key", world.serverPub]).status).toBe(2);
  });
});
