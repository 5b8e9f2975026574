// End to end: what the user checks after a backup — kept receipts offline, the server's scrub, `ls` over the session.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { keygen, makeWorld, runBinary, runClientOnce, startServer, tempDir, writeClientConfig, writeServerConfig, type ServerProcess, type World } from "../testing/e2e-harness.ts";

let world: World;
let server: ServerProcess;
let data: string;
let firstArchive: string;
let secondArchive: string;
/** A second client of the same server, with an archive of its own. */
let other: World;
let otherArchive: string;

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
  const otherPub = keygen(path.join(world.dir, "db01.key"));
  writeServerConfig(world, [{ name: "web01", key: world.clientPub }, { name: "db01", key: otherPub }]);
  other = { ...world, clientConfig: path.join(world.dir, "db01.yaml"), state: path.join(world.dir, "state-db01") };
  writeSource(path.join(data, "db"), 3);
  writeClientConfig(other, [path.join(data, "db")], { name: "db01", key: "./db01.key" });
  fs.writeFileSync(other.clientConfig, fs.readFileSync(other.clientConfig, "utf8").replace("state: ./state", "state: ./state-db01"));
  server = await startServer(world);
  const db = runClientOnce(other);
  expect(db.status).toBe(0);
  otherArchive = db.report.results[0]!.archive!;
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

describe("server verify", () => {
  /** A copy of the server's storage (times kept) and a server config over it, so the running server is left alone. */
  function copyStore(): { config: string; storage: string } {
    const dir = tempDir("scrub");
    const storage = path.join(dir, "nas");
    // cp -a keeps nanosecond mtimes: the copied index stays in force (the store rescans any file whose mtime moved).
    expect(spawnSync("cp", ["-a", world.storage, storage]).status).toBe(0);
    const config = path.join(dir, "server.yaml");
    const text = fs.readFileSync(world.serverConfig, "utf8").replace("key: ./server.key", `key: ${path.join(world.dir, "server.key")}`).replace("storage: ./nas", `storage: ${storage}`);
    fs.writeFileSync(config, text);
    return { config, storage };
  }

  /** Flips one byte in the middle of `file` and puts its exact mtime back, like bit rot would. */
  function flipByte(file: string): void {
    const st = fs.statSync(file);
    const stamp = `${file}.stamp`;
    expect(spawnSync("touch", ["-r", file, stamp]).status).toBe(0);
    const fd = fs.openSync(file, "r+");
    const at = Math.floor(st.size / 2);
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, at);
    byte[0] = byte[0]! ^ 0x40;
    fs.writeSync(fd, byte, 0, 1, at);
    fs.closeSync(fd);
    expect(spawnSync("touch", ["-r", stamp, file]).status).toBe(0);
    fs.rmSync(stamp);
  }

  test("an intact store: every archive and the trashed one ok, exit 0", () => {
    const { config } = copyStore();
    const result = runBinary(["server", "verify", "--config", config]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^ok +web01/${secondArchive.replaceAll(".", "\\.")}`, "m"));
    expect(result.stdout).toMatch(new RegExp(`^ok +\\.trash/web01/${firstArchive.replaceAll(".", "\\.")}`, "m"));
    expect(result.stdout).toMatch(new RegExp(`^ok +db01/${otherArchive.replaceAll(".", "\\.")}`, "m"));
    expect(result.stdout).toContain("3 archives checked, 0 damaged");
    const onlyWeb = runBinary(["server", "verify", "--config", config, "--client", "web01"]);
    expect(onlyWeb.status).toBe(0);
    expect(onlyWeb.stdout).toContain("2 archives checked, 0 damaged");
    expect(onlyWeb.stdout).not.toContain("db01");
  });

  test("one flipped byte is named with its member, offset and chunk id, exit 1", () => {
    const { config, storage } = copyStore();
    flipByte(path.join(storage, "web01", secondArchive));
    const result = runBinary(["server", "verify", "--config", config, "--json"]);
    expect(result.status).toBe(1);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(false);
    expect(report.damaged).toBe(1);
    const bad = report.archives.find((a: { ok: boolean }) => !a.ok);
    expect(bad.file).toBe(secondArchive);
    expect(bad.damaged).toHaveLength(1);
    const size = fs.statSync(path.join(storage, "web01", secondArchive)).size;
    const member = bad.damaged[0];
    expect(member.chunkId).toMatch(/^[0-9a-f]{64}$/);
    expect(member.offset).toBeLessThanOrEqual(Math.floor(size / 2));
    expect(member.offset + member.length).toBeGreaterThan(Math.floor(size / 2));
    const text = runBinary(["server", "verify", "--config", config]);
    expect(text.status).toBe(1);
    expect(text.stdout).toContain(`DAMAGED  web01/${secondArchive}`);
    expect(text.stdout).toContain(`member ${member.index} at byte ${member.offset} (chunk ${member.chunkId})`);
  });

  test("a truncated archive and a damaged trashed one are named, exit 1", () => {
    const { config, storage } = copyStore();
    const file = path.join(storage, "web01", secondArchive);
    fs.truncateSync(file, fs.statSync(file).size - 100);
    flipByte(path.join(storage, ".trash", "web01", firstArchive));
    const result = runBinary(["server", "verify", "--config", config]);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain(`DAMAGED  web01/${secondArchive}`);
    expect(result.stdout).toContain(`DAMAGED  .trash/web01/${firstArchive}`);
    expect(result.stdout).toContain("3 archives checked, 2 damaged");
  });
});

describe("ls", () => {
  interface Listed { name: string; file: string; size: number; archiveId: string; fileSha256: string; storedAt: string; trashed?: boolean; purgeAt?: string }
  const sha256 = (file: string) => new Bun.CryptoHasher("sha256").update(fs.readFileSync(file)).digest("hex");
  const receiptBody = (file: string) => JSON.parse(JSON.parse(fs.readFileSync(path.join(world.state, "receipts", "site", `${file}.receipt.json`), "utf8")).body);

  test("--json: the current archive and the trashed one with its purge time, each as the receipts and files say", () => {
    const result = runBinary(["ls", "--config", world.clientConfig, "--json"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const { client, archives } = JSON.parse(result.stdout) as { client: string; archives: Listed[] };
    expect(client).toBe("web01");
    expect(archives.map((a) => [a.file, a.trashed ?? false])).toEqual([[secondArchive, false], [firstArchive, true]]);
    const [current, trashed] = archives as [Listed, Listed];
    expect(current.purgeAt).toBeUndefined();
    expect(current.fileSha256).toBe(sha256(path.join(world.storage, "web01", secondArchive)));
    expect(current.size).toBe(fs.statSync(path.join(world.storage, "web01", secondArchive)).size);
    expect(current.archiveId).toBe(receiptBody(secondArchive).archiveId);
    expect(current.storedAt).toBe(receiptBody(secondArchive).storedAt);
    expect(trashed.name).toBe("site");
    expect(trashed.fileSha256).toBe(sha256(path.join(world.storage, ".trash", "web01", firstArchive)));
    expect(trashed.archiveId).toBe(receiptBody(firstArchive).archiveId);
    expect(trashed.archiveId).not.toBe(current.archiveId);
    // trashFor 48h, counted from when the second backup replaced it.
    const trashedAt = Date.parse(JSON.parse(fs.readFileSync(path.join(world.storage, ".trash", "web01", `${firstArchive}.trashed`), "utf8")).trashedAt);
    expect(Date.parse(trashed.purgeAt!)).toBe(trashedAt + 48 * 3600 * 1000);
    expect(Date.parse(trashed.purgeAt!) - Date.now()).toBeGreaterThan(47 * 3600 * 1000);
  });

  test("another client's archives are never listed, and it sees only its own", () => {
    const mine = runBinary(["ls", "--config", world.clientConfig]);
    expect(mine.status).toBe(0);
    expect(mine.stdout).toContain(secondArchive);
    expect(mine.stdout).toMatch(new RegExp(`^trash .*${firstArchive.replaceAll(".", "\\.")}.*purged `, "m"));
    expect(mine.stdout).not.toContain(otherArchive);
    const theirs = JSON.parse(runBinary(["ls", "--config", other.clientConfig, "--json"]).stdout) as { archives: Listed[] };
    expect(theirs.archives.map((a) => a.file)).toEqual([otherArchive]);
  });

  test("NAME filters by source; an unknown name lists nothing; a bad name is a usage error", () => {
    const site = JSON.parse(runBinary(["ls", "--config", world.clientConfig, "site", "--json"]).stdout) as { archives: Listed[] };
    expect(site.archives).toHaveLength(2);
    const none = runBinary(["ls", "--config", world.clientConfig, "db", "--json"]);
    expect(none.status).toBe(0);
    expect(JSON.parse(none.stdout).archives).toEqual([]);
    expect(runBinary(["ls", "--config", world.clientConfig, "../etc"]).status).toBe(2);
  });
});
