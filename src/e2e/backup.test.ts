// End to end: the compiled binary as server and client processes over loopback; archives checked with real gzip and tar.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  listTree,
  makeWorld,
  runClientOnce,
  startServer,
  tempDir,
  writeNoiseFiles,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

const NAME_PATTERN = /^backup-site-(\d{2})-(\d{2})-(\d{2})-(\d{4})-(\d{2})-(\d{2})\.tar\.gz$/;

/** A tree with what breaks naive archivers: modes, old mtimes, symlinks, empty folders, non-ASCII and spaced names. */
function awkwardTree(root: string): void {
  const site = path.join(root, "site");
  fs.mkdirSync(path.join(site, "empty folder"), { recursive: true });
  fs.mkdirSync(path.join(site, "deep", "er", "est"), { recursive: true });
  fs.writeFileSync(path.join(site, "index.html"), "<h1>hello</h1>\n".repeat(500));
  fs.writeFileSync(path.join(site, "secret.txt"), "only me\n", { mode: 0o600 });
  fs.chmodSync(path.join(site, "secret.txt"), 0o600);
  fs.writeFileSync(path.join(site, "run.sh"), "#!/bin/sh\necho hi\n");
  fs.chmodSync(path.join(site, "run.sh"), 0o755);
  fs.writeFileSync(path.join(site, "Café crème — été.txt"), "accents\n");
  fs.writeFileSync(path.join(site, "with  two spaces.txt"), "spaces\n");
  fs.writeFileSync(path.join(site, "deep", "er", "est", "x".repeat(120) + ".txt"), "long name\n");
  const random = Buffer.alloc(2 * 1024 * 1024);
  for (let i = 0; i < random.length; i += 4) random.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
  fs.writeFileSync(path.join(site, "blob.bin"), random);
  fs.symlinkSync("index.html", path.join(site, "home.html"));
  fs.symlinkSync("../nowhere", path.join(site, "dangling"));
  const old = new Date("2021-03-04T05:06:07Z");
  fs.utimesSync(path.join(site, "index.html"), old, old);
  fs.utimesSync(path.join(site, "empty folder"), old, old);
}

function describeTree(dir: string): Record<string, { mode: number; mtime: number; content?: string; link?: string }> {
  const out: Record<string, { mode: number; mtime: number; content?: string; link?: string }> = {};
  for (const rel of listTree(dir)) {
    const p = path.join(dir, rel);
    const st = fs.lstatSync(p);
    const entry: { mode: number; mtime: number; content?: string; link?: string } = { mode: st.mode, mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isSymbolicLink()) entry.link = fs.readlinkSync(p);
    else if (st.isFile()) entry.content = Bun.hash(fs.readFileSync(p)).toString();
    // folders' mtimes change when tar writes into them, then tar restores them: compare all but the top folder
    out[rel] = entry;
  }
  return out;
}

describe("backup through the compiled binary", () => {
  let world: World;
  let server: ServerProcess;
  let data: string;

  beforeAll(async () => {
    data = tempDir("data");
    awkwardTree(data);
    world = await makeWorld([path.join(data, "site")]);
    server = await startServer(world);
  });
  afterAll(async () => {
    await server?.stop();
  });

  test("first run stores backup-NAME-NOW.tar.gz that gzip -t accepts and tar restores exactly", () => {
    const before = Date.now();
    const { status, report } = runClientOnce(world);
    expect(status).toBe(0);
    expect(report.server).toBe("up");
    const [site] = report.results;
    expect(site!.status).toBe("sent");
    expect(site!.bytesSent).toBeGreaterThan(0);
    expect(site!.chunksSent).toBe(site!.chunksTotal);

    const stored = fs.readdirSync(path.join(world.storage, "web01"));
    expect(stored).toEqual([site!.archive!]);
    const m = site!.archive!.match(NAME_PATTERN);
    expect(m).not.toBeNull();
    const [, ss, mm, hh, yyyy, mo, dd] = m!;
    const at = Date.UTC(Number(yyyy), Number(mo) - 1, Number(dd), Number(hh), Number(mm), Number(ss));
    expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    expect(at).toBeLessThanOrEqual(Date.now());

    const archive = path.join(world.storage, "web01", site!.archive!);
    expect(spawnSync("gzip", ["-t", archive]).status).toBe(0);
    const restore = tempDir("restore");
    const untar = spawnSync("tar", ["-xzf", archive, "-C", restore], { encoding: "utf8" });
    expect(untar.stderr).toBe("");
    expect(untar.status).toBe(0);
    expect(describeTree(path.join(restore, "site"))).toEqual(describeTree(path.join(data, "site")));
    // nothing half-written is left in storage
    expect(listTree(path.join(world.storage, ".hashrelay", "tmp"))).toEqual([]);
  });

  test("second run with no change is unchanged and sends no archive payload", () => {
    const { status, report } = runClientOnce(world);
    expect(status).toBe(0);
    expect(report.results[0]!.status).toBe("unchanged");
    expect(report.results[0]!.bytesSent).toBe(0);
    expect(fs.readdirSync(path.join(world.storage, "web01"))).toHaveLength(1);
  });

  test("a changed file is sent; the old archive moves to .trash only once the new one is in place", () => {
    const [previous] = fs.readdirSync(path.join(world.storage, "web01"));
    // no pause: a second backup within the same second must still get its own archive name
    fs.appendFileSync(path.join(data, "site", "index.html"), "<p>new paragraph</p>\n");
    const { status, report } = runClientOnce(world);
    expect(status).toBe(0);
    const site = report.results[0]!;
    expect(site.status).toBe("sent");
    expect(site.chunksSent).toBeLessThan(site.chunksTotal);
    expect(fs.readdirSync(path.join(world.storage, "web01"))).toEqual([site.archive!]);
    expect(site.archive).not.toBe(previous);
    expect(fs.readdirSync(path.join(world.storage, ".trash", "web01"))).toContain(previous!);
    const restore = tempDir("restore2");
    expect(spawnSync("tar", ["-xzf", path.join(world.storage, "web01", site.archive!), "-C", restore]).status).toBe(0);
    expect(fs.readFileSync(path.join(restore, "site", "index.html"), "utf8")).toEndWith("<p>new paragraph</p>\n");
    // unchanged files were not read again (their chunks came from the last archive), yet the archive is the whole tree
    expect(describeTree(path.join(restore, "site"))).toEqual(describeTree(path.join(data, "site")));
    expect(site.bytesSent).toBeLessThan(4096); // one paragraph travels as a delta, not a 64 KiB chunk
    // the client kept the signed receipts
    expect(fs.readdirSync(path.join(world.state, "receipts", "site")).sort()).toEqual(
      [`${previous}.receipt.json`, `${site.archive}.receipt.json`].sort(),
    );
  });

  test("a missing source fails alone, naming the path, and the others go on", () => {
    const other = path.join(tempDir("other"), "notes");
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, "notes.txt"), "x");
    const missing = path.join(data, "does-not-exist");
    fs.writeFileSync(
      world.clientConfig,
      fs
        .readFileSync(world.clientConfig, "utf8")
        .replace(/paths:\n[\s\S]*$/, `paths:\n    - ${JSON.stringify(missing)}\n    - ${JSON.stringify(other)}\n`),
    );
    const { status, report } = runClientOnce(world);
    expect(status).toBe(1);
    const byName = Object.fromEntries(report.results.map((r) => [r.name, r]));
    expect(byName["does-not-exist"]!.status).toBe("failed");
    expect(byName["does-not-exist"]!.error).toContain(missing);
    expect(byName["notes"]!.status).toBe("sent");
  });
});

describe("edits spread over a source of many pages", () => {
  // 24 files of 3 MiB of noise: a 72 MiB tar stream, so an incremental backup offers it in at least 4
  // pages (a page goes out once it spans 16 MiB of the stream, docs/ARCHITECTURE.md, page windows) and the client offers
  // each page while the chunks of the one before are still on their way (§10 step 4).
  const FILES = 24;
  const SIZE = 3 * 1024 * 1024;
  let world: World;
  let server: ServerProcess;
  let tree: string;

  beforeAll(async () => {
    tree = path.join(tempDir("pages"), "disks");
    writeNoiseFiles(tree, 7, FILES, SIZE, "disk");
    world = await makeWorld([tree]);
    server = await startServer(world);
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** Overwrites 100 bytes in the middle of every third file, different bytes each round (sizes unchanged). */
  function editEveryThirdFile(round: number): number {
    let edited = 0;
    for (let f = round % 3; f < FILES; f += 3) {
      const fd = fs.openSync(path.join(tree, `disk-${f}.bin`), "r+");
      fs.writeSync(fd, Buffer.alloc(100, `round ${round} file ${f} `), 0, 100, SIZE / 2 + 4096 * round);
      fs.closeSync(fd);
      edited++;
    }
    return edited;
  }

  function restoresTheTree(archive: string): void {
    const restore = tempDir("pages-restore");
    expect(spawnSync("tar", ["-xzf", path.join(world.storage, "web01", archive), "-C", restore]).status).toBe(0);
    expect(describeTree(path.join(restore, "disks"))).toEqual(describeTree(tree));
  }

  test("each round sends only deltas, a few KiB per edit, and the archive restores the tree", () => {
    const first = runClientOnce(world);
    expect(first.status).toBe(0);
    expect(first.report.results[0]!.bytesSent).toBeGreaterThan(FILES * SIZE);
    // The second round needs the block index written by the first, the third the one the second wrote
    // from its pipelined pages: an index out of order would be dropped, and whole chunks would travel.
    for (const round of [1, 2]) {
      const edited = editEveryThirdFile(round);
      const { status, report } = runClientOnce(world);
      expect(status).toBe(0);
      const disks = report.results[0]!;
      expect(disks.status).toBe("sent");
      expect(disks.chunksSent).toBeGreaterThanOrEqual(edited);
      // A delta carries the changed blocks (~1 KiB of noise each) as literals; a whole chunk is ~64 KiB.
      expect(disks.bytesSent).toBeLessThan(edited * 8 * 1024);
      restoresTheTree(disks.archive!);
    }
  });
});
