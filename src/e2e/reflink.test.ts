// End to end on XFS (reflink=1) in a loop file: a one-line edit clones the rest; restore, verify and tar read every generation; kill -9 mid-assembly.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { makeLoopFs, sharedBytes, skipBanner, usedBytes } from "../testing/loop-fs.ts";
import {
  ensureBinary,
  listTree,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  writeNoiseFiles,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

const MiB = 1024 * 1024;
const xfs = makeLoopFs("xfs", 1024);
afterAll(() => xfs.remove());
if (!xfs.mount) skipBanner(xfs, "the end-to-end reflink tests");

let world: World;
let server: ServerProcess;
let data: string;

/** The world's storage moved onto the XFS mount (the config names it by its absolute path). */
async function worldOnXfs(sources: string[]): Promise<World> {
  const made = await makeWorld(sources);
  const storage = path.join(xfs.mount!, path.basename(made.dir));
  const text = fs.readFileSync(made.serverConfig, "utf8").replace("storage: ./nas", `storage: ${storage}`);
  fs.writeFileSync(made.serverConfig, text);
  return { ...made, storage };
}

const archivesOf = (w: World) => fs.readdirSync(path.join(w.storage, "web01")).filter((f) => f.endsWith(".tar.gz"));
const sha = (file: string) => new Bun.CryptoHasher("sha256").update(fs.readFileSync(file)).digest("hex");

/** How many gzip fillers (an empty member whose extra subfield is "HF") the file holds. */
function fillersIn(file: string): number {
  const bytes = fs.readFileSync(file);
  const header = Buffer.from([0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff]);
  let count = 0;
  for (let at = bytes.indexOf(header); at >= 0; at = bytes.indexOf(header, at + 1))
    if (bytes[at + 12] === 0x48 && bytes[at + 13] === 0x46) count++;
  return count;
}

/** gzip -t, then tar -xzf into a fresh folder, whose tree must equal `tree`. */
function readsBackAs(archive: string, tree: string): void {
  expect(spawnSync("gzip", ["-t", archive]).status).toBe(0);
  const out = tempDir("reflink-tar");
  expect(spawnSync("tar", ["-xzf", archive, "-C", out]).status).toBe(0);
  expect(spawnSync("diff", ["-r", tree, path.join(out, path.basename(tree))]).status).toBe(0);
}

describe.skipIf(!xfs.mount)("a one-line edit on XFS", () => {
  let previous = "";
  let previousTree = "";

  beforeAll(async () => {
    data = tempDir("reflink-data");
    const site = path.join(data, "site");
    writeNoiseFiles(site, 7, 6, 4 * MiB, "blob");
    // sorted between blob-3.bin and blob-4.bin: the edit lands mid-archive, so the run after it needs a filler
    fs.writeFileSync(path.join(site, "blob-3.log"), "line 1\n".repeat(2000));
    world = await worldOnXfs([site]);
    server = await startServer(world);
    const first = runClientOnce(world);
    expect(first.status).toBe(0);
    previous = first.report.results[0]!.archive!;
    previousTree = tempDir("reflink-before");
    fs.cpSync(site, path.join(previousTree, "site"), { recursive: true, preserveTimestamps: true });
  });

  afterAll(async () => {
    await server?.stop();
  });

  test("the new archive shares all but the changed blocks with the trashed one; both pass gzip -t and tar -xzf", async () => {
    const site = path.join(data, "site");
    const before = usedBytes(world.storage);
    fs.appendFileSync(path.join(site, "blob-3.log"), "one more line\n");
    const second = runClientOnce(world);
    expect(second.status).toBe(0);
    const file = second.report.results[0]!.archive!;
    const archive = path.join(world.storage, "web01", file);
    const trashed = path.join(world.storage, ".trash", "web01", previous);
    const size = fs.statSync(archive).size;
    expect(size).toBeGreaterThan(20 * MiB);
    expect(usedBytes(world.storage) - before).toBeLessThan(size * 0.01 + MiB);
    expect(sharedBytes(archive)).toBeGreaterThan(size - MiB);
    readsBackAs(archive, site);
    readsBackAs(trashed, path.join(previousTree, "site"));
    expect(fillersIn(archive)).toBeGreaterThan(0);
    expect(fillersIn(trashed)).toBe(0);
    expect(server.log()).toContain("storage.clones");
  });

  test("restore and verify --deep and --download read the cloned archive; the server's scrub passes", () => {
    const to = path.join(tempDir("reflink-restore"), "out");
    const restored = runBinary(["restore", "site", "--config", world.clientConfig, "--to", to]);
    expect(restored.status).toBe(0);
    expect(spawnSync("diff", ["-r", path.join(data, "site"), path.join(to, "site")]).status).toBe(0);
    const old = path.join(tempDir("reflink-restore-old"), "out");
    expect(runBinary(["restore", "site", "--config", world.clientConfig, "--file", previous, "--to", old]).status).toBe(0);
    expect(spawnSync("diff", ["-r", path.join(previousTree, "site"), path.join(old, "site")]).status).toBe(0);
    for (const how of ["--deep", "--download"]) {
      const verified = runBinary(["verify", "site", "--config", world.clientConfig, how]);
      expect(verified.status).toBe(0);
    }
    const scrub = runBinary(["server", "verify", "--config", world.serverConfig]);
    expect(scrub.status).toBe(0);
    expect(scrub.stdout).not.toContain("DAMAGED");
  });

  test("kill -9 of the server while it assembles: the old archive stays complete, no partial final file; the next backup stores", async () => {
    const [current] = archivesOf(world);
    const currentSha = sha(path.join(world.storage, "web01", current!));
    fs.appendFileSync(path.join(data, "site", "blob-3.log"), "a line the crash loses\n");
    const tmp = path.join(world.storage, ".hashrelay", "tmp");
    const client = spawn(ensureBinary(), ["client", "--once", "--json", "--config", world.clientConfig], { stdio: "ignore" });
    const exited = new Promise<number | null>((resolve) => client.once("exit", (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    // The new archive is assembled in .hashrelay/tmp while the upload runs: kill once it is there.
    while (!fs.readdirSync(tmp).some((f) => f.endsWith(".tar.gz"))) {
      if (Date.now() > deadline) throw new Error("the assembly never started");
      if (client.exitCode !== null) throw new Error(`the backup ended before the kill (exit ${client.exitCode})`);
      await Bun.sleep(2);
    }
    await server.stop("SIGKILL");
    expect(await exited).not.toBe(0);
    expect(archivesOf(world)).toEqual([current!]);
    expect(sha(path.join(world.storage, "web01", current!))).toBe(currentSha);
    server = await startServer(world);
    expect(listTree(tmp)).toEqual([]);
    const after = runClientOnce(world);
    expect(after.status).toBe(0);
    readsBackAs(path.join(world.storage, "web01", after.report.results[0]!.archive!), path.join(data, "site"));
  });
});

describe.skipIf(!xfs.mount)("a one-line edit of a zstd source on XFS", () => {
  test("clones behind a skippable-frame filler; zstd -t passes; restore and verify --download read it", async () => {
    const dir = tempDir("reflink-zstd");
    const site = path.join(dir, "docs");
    writeNoiseFiles(site, 7, 6, 4 * MiB, "blob");
    fs.writeFileSync(path.join(site, "blob-3.log"), "line 1\n".repeat(2000));
    const w = await worldOnXfs([site]);
    const config = fs.readFileSync(w.clientConfig, "utf8");
    fs.writeFileSync(w.clientConfig, config.replace('schedule: "every 30m"', 'schedule: "every 30m"\n  compression: zstd'));
    const zstdServer = await startServer(w);
    try {
      expect(runClientOnce(w).status).toBe(0);
      fs.appendFileSync(path.join(site, "blob-3.log"), "one more line\n");
      const second = runClientOnce(w);
      expect(second.status).toBe(0);
      const archive = path.join(w.storage, "web01", second.report.results[0]!.archive!);
      expect(archive.endsWith(".tar.zst")).toBe(true);
      expect(sharedBytes(archive)).toBeGreaterThan(fs.statSync(archive).size - MiB);
      expect(spawnSync("zstd", ["-t", "-q", archive]).status).toBe(0);
      // A restore receives the member after the filler with it: the frame starts with the filler's magic.
      const to = path.join(tempDir("reflink-zstd-restore"), "out");
      expect(runBinary(["restore", "docs", "--config", w.clientConfig, "--to", to]).status).toBe(0);
      expect(spawnSync("diff", ["-r", site, path.join(to, "docs")]).status).toBe(0);
      expect(runBinary(["verify", "docs", "--config", w.clientConfig, "--download"]).status).toBe(0);
    } finally {
      await zstdServer.stop();
    }
  });
});
