// End to end: what the user checks after a backup — kept receipts offline, the server's scrub, `ls` over the session.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { archiveIdOf } from "../archive/manifest.ts";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import { deflateRaw } from "../io/compress.ts";
import { loadKeyFile } from "../io/key-file.ts";
import { CHUNK_MAX } from "../protocol/constants.ts";
import { piecesDigestOf } from "../testing/pieces-digest-of.ts";
import { signDocument } from "../protocol/signed-document.ts";
import {
  flipByte,
  keygen,
  treeFacts,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  writeClientConfig,
  writeNoiseFiles,
  writeServerConfig,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

let world: World;
let server: ServerProcess;
let data: string;
let firstArchive: string;
let secondArchive: string;
/** A second client of the same server, with an archive of its own. */
let other: World;
let otherArchive: string;

/**
 * Files of incompressible content so the archive has many members (3.6 MiB: several batches for a restore,
 * which checks and extracts a batch of at most 1 MiB while it receives the next), and a note naming the version.
 */
function writeSource(dir: string, seed: number): void {
  writeNoiseFiles(dir, seed, 3, 1200 * 1024, "file");
  fs.writeFileSync(path.join(dir, "note.txt"), `version ${seed}\n`);
}

/** What breaks naive restores: modes, old mtimes, symlinks (one dangling), an empty folder, non-ASCII and spaced names. */
function awkwardParts(site: string): void {
  fs.mkdirSync(path.join(site, "empty folder"), { recursive: true });
  fs.mkdirSync(path.join(site, "deep", "er"), { recursive: true });
  fs.writeFileSync(path.join(site, "index.html"), "<h1>hello</h1>\n".repeat(500));
  fs.writeFileSync(path.join(site, "secret.txt"), "only me\n");
  fs.chmodSync(path.join(site, "secret.txt"), 0o600);
  fs.writeFileSync(path.join(site, "run.sh"), "#!/bin/sh\necho hi\n");
  fs.chmodSync(path.join(site, "run.sh"), 0o755);
  fs.writeFileSync(path.join(site, "Café crème — été.txt"), "accents\n");
  fs.writeFileSync(path.join(site, "deep", "er", "with  two spaces.txt"), "spaces\n");
  fs.symlinkSync("index.html", path.join(site, "home.html"));
  fs.symlinkSync("../nowhere", path.join(site, "dangling"));
  const old = new Date("2021-03-04T05:06:07Z");
  fs.utimesSync(path.join(site, "index.html"), old, old);
  fs.utimesSync(path.join(site, "empty folder"), old, old);
}

beforeAll(async () => {
  data = tempDir("inspect-data");
  writeSource(path.join(data, "site"), 1);
  awkwardParts(path.join(data, "site"));
  world = await makeWorld([path.join(data, "site")]);
  const otherPub = keygen(path.join(world.dir, "db01.key"));
  writeServerConfig(world, [
    { name: "web01", key: world.clientPub },
    { name: "db01", key: otherPub },
  ]);
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
    expect(json.receipt.piecesSha256).toBe(piecesDigestOf(fs.readFileSync(path.join(world.storage, "web01", secondArchive))));
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
    const text = fs
      .readFileSync(world.serverConfig, "utf8")
      .replace("key: ./server.key", `key: ${path.join(world.dir, "server.key")}`)
      .replace("storage: ./nas", `storage: ${storage}`);
    fs.writeFileSync(config, text);
    return { config, storage };
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
  interface Listed {
    name: string;
    file: string;
    size: number;
    archiveId: string;
    piecesSha256: string;
    storedAt: string;
    trashed?: boolean;
    purgeAt?: string;
  }
  const pieces = (file: string) => piecesDigestOf(fs.readFileSync(file));
  const receiptBody = (file: string) =>
    JSON.parse(JSON.parse(fs.readFileSync(path.join(world.state, "receipts", "site", `${file}.receipt.json`), "utf8")).body);

  test("--json: the current archive and the trashed one with its purge time, each as the receipts and files say", () => {
    const result = runBinary(["ls", "--config", world.clientConfig, "--json"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const { client, archives } = JSON.parse(result.stdout) as { client: string; archives: Listed[] };
    expect(client).toBe("web01");
    expect(archives.map((a) => [a.file, a.trashed ?? false])).toEqual([
      [secondArchive, false],
      [firstArchive, true],
    ]);
    const [current, trashed] = archives as [Listed, Listed];
    expect(current.purgeAt).toBeUndefined();
    expect(current.piecesSha256).toBe(pieces(path.join(world.storage, "web01", secondArchive)));
    expect(current.size).toBe(fs.statSync(path.join(world.storage, "web01", secondArchive)).size);
    expect(current.archiveId).toBe(receiptBody(secondArchive).archiveId);
    expect(current.storedAt).toBe(receiptBody(secondArchive).storedAt);
    expect(trashed.name).toBe("site");
    expect(trashed.piecesSha256).toBe(pieces(path.join(world.storage, ".trash", "web01", firstArchive)));
    expect(trashed.archiveId).toBe(receiptBody(firstArchive).archiveId);
    expect(trashed.archiveId).not.toBe(current.archiveId);
    // trashFor 48h, counted from when the second backup replaced it.
    const trashedAt = Date.parse(
      JSON.parse(fs.readFileSync(path.join(world.storage, ".trash", "web01", `${firstArchive}.trashed`), "utf8")).trashedAt,
    );
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

describe("restore", () => {
  const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");

  test("round trip: the restored tree equals the source (content, modes, mtimes, symlinks)", () => {
    const to = path.join(tempDir("restore"), "out");
    const result = runBinary(["restore", "site", "--config", world.clientConfig, "--to", to, "--json"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.file).toBe(secondArchive);
    expect(report.trashed).toBe(false);
    expect(fs.readdirSync(to)).toEqual(["site"]);
    expect(spawnSync("diff", ["-r", "--no-dereference", path.join(data, "site"), path.join(to, "site")]).status).toBe(0);
    expect(treeFacts(path.join(to, "site"))).toEqual(treeFacts(path.join(data, "site")));
  });

  test("from the trash, --raw, and a non-empty DIR only with --force", () => {
    const to = tempDir("restore-old");
    const old = runBinary(["restore", "site", "--config", world.clientConfig, "--file", firstArchive, "--to", to]);
    expect(old.status).toBe(0);
    expect(old.stdout).toContain("(from trash)");
    const expected = tempDir("seed1");
    writeSource(expected, 1);
    expect(fs.readFileSync(path.join(to, "site", "file-0.bin")).equals(fs.readFileSync(path.join(expected, "file-0.bin")))).toBe(true);
    expect(fs.readFileSync(path.join(to, "site", "note.txt"), "utf8")).toBe("version 1\n");

    const refused = runBinary(["restore", "site", "--config", world.clientConfig, "--to", to]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain("not empty");
    expect(fs.readFileSync(path.join(to, "site", "note.txt"), "utf8")).toBe("version 1\n");
    expect(runBinary(["restore", "site", "--config", world.clientConfig, "--to", to, "--force"]).status).toBe(0);
    expect(fs.readFileSync(path.join(to, "site", "note.txt"), "utf8")).toBe("version 2\n");
    expect(fs.readdirSync(to)).toEqual(["site"]);

    const raw = tempDir("restore-raw");
    expect(runBinary(["restore", "site", "--config", world.clientConfig, "--to", raw, "--raw"]).status).toBe(0);
    expect(fs.readdirSync(raw)).toEqual([secondArchive]);
    expect(sha256(fs.readFileSync(path.join(raw, secondArchive)))).toBe(
      sha256(fs.readFileSync(path.join(world.storage, "web01", secondArchive))),
    );
  });

  test("a flipped byte mid-archive (after a first batch was extracted) is detected and named; nothing is left in DIR", () => {
    const stored = path.join(world.storage, "web01", secondArchive);
    const original = fs.readFileSync(stored);
    const at = Math.floor(original.length / 2);
    const fd = fs.openSync(stored, "r+");
    fs.writeSync(fd, Buffer.from([original[at]! ^ 0x40]), 0, 1, at);
    fs.closeSync(fd);
    const to = path.join(tempDir("restore-bad"), "out");
    try {
      const result = runBinary(["restore", "site", "--config", world.clientConfig, "--to", to]);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`${secondArchive.replaceAll(".", "\\.")}: member \\d+ \\(chunk [0-9a-f]{64}\\)`));
      expect(result.stdout).toBe("");
      expect(fs.readdirSync(to)).toEqual([]);
    } finally {
      fs.writeFileSync(stored, original);
    }
  });

  test("an archive with ../ and absolute entries placed on the server (with a valid receipt) is refused; nothing is written", async () => {
    // The raw tar holds ../escape.txt; cut into our gzip members; the server indexes it at start.
    const craft = tempDir("craft");
    fs.mkdirSync(path.join(craft, "in"));
    fs.writeFileSync(path.join(craft, "escape.txt"), "owned\n");
    const tar = spawnSync("tar", ["-cf", "-", "-P", "../escape.txt", path.join(craft, "escape.txt")], { cwd: path.join(craft, "in") });
    expect(tar.status).toBe(0);
    const rawTar = tar.stdout as Buffer;
    const pieces: Uint8Array[] = [];
    for (let i = 0; i < rawTar.length; i += CHUNK_MAX) pieces.push(new Uint8Array(rawTar.subarray(i, i + CHUNK_MAX)));
    const members = pieces.map((raw) => encodeGzipMember(raw, deflateRaw));
    const bytes = Buffer.concat(members);
    const entries = pieces.map((raw) => ({
      id: new Uint8Array(new Bun.CryptoHasher("sha256").update(raw).digest()),
      rawLength: raw.length,
    }));
    const file = archiveFileName("evil", new Date());
    await server.stop();
    fs.writeFileSync(path.join(world.storage, "web01", file), bytes);
    const receipt = signDocument(
      {
        v: 1,
        kind: "receipt",
        client: "web01",
        name: "evil",
        file,
        archiveId: archiveIdOf(entries),
        fileSha256: sha256(bytes),
        size: bytes.length,
        storedAt: new Date().toISOString(),
      },
      loadKeyFile(path.join(world.dir, "server.key")),
    );
    fs.mkdirSync(path.join(world.state, "receipts", "evil"), { recursive: true });
    fs.writeFileSync(path.join(world.state, "receipts", "evil", `${file}.receipt.json`), JSON.stringify(receipt));
    server = await startServer(world);

    const parent = tempDir("restore-evil");
    const to = path.join(parent, "out");
    const result = runBinary(["restore", "evil", "--config", world.clientConfig, "--to", to]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('"../escape.txt"');
    expect(result.stderr).toContain(JSON.stringify(path.join(craft, "escape.txt")));
    expect(result.stderr).toContain("refused");
    expect(fs.readdirSync(to)).toEqual([]);
    expect(fs.readdirSync(parent)).toEqual(["out"]);
    // The same bytes are fine as a file: --raw keeps the verified archive without extracting it.
    const raw = tempDir("restore-evil-raw");
    expect(runBinary(["restore", "evil", "--config", world.clientConfig, "--to", raw, "--raw"]).status).toBe(0);
    expect(fs.readdirSync(raw)).toEqual([file]);
  });
});
