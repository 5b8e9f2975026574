// End to end: `hashrelay verify` proves the server holds the archives without downloading them, and catches a flipped byte, a truncated file and a replaced one.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ArchiveVerdict } from "../cli/verify.ts";
import {
  flipByte,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  touchLike,
  writeNoiseFiles,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

let world: World;
let server: ServerProcess;
let data: string;
let firstArchive: string;

/** Eight files of incompressible bytes: an archive of about 60 members, more than a plain verify samples. */
const writeSource = (dir: string, seed: number) => writeNoiseFiles(dir, seed, 8, 512 * 1024, "part");

/** `hashrelay verify --json ARGS`: exit status and verdicts. */
function verify(...args: string[]): { status: number | null; stderr: string; verdicts: ArchiveVerdict[] } {
  const json = runBinary(["verify", "--config", world.clientConfig, "--json", ...args]);
  return { status: json.status, stderr: json.stderr, verdicts: (JSON.parse(json.stdout) as { archives: ArchiveVerdict[] }).archives };
}

/** `hashrelay verify ARGS` as an admin reads it. */
function verifyText(...args: string[]): { status: number | null; stdout: string } {
  return runBinary(["verify", "--config", world.clientConfig, ...args]);
}

/** Runs `change` on the stored file of `archive`, then `check`, then puts the exact original back (bytes and times). */
async function withDamage(file: string, change: (file: string) => void, check: () => void | Promise<void>): Promise<void> {
  const kept = path.join(tempDir("verify-kept"), "original");
  fs.copyFileSync(file, kept);
  touchLike(file, kept);
  try {
    change(file);
    await check();
  } finally {
    fs.copyFileSync(kept, file);
    touchLike(kept, file);
  }
}

const stored = (file: string) => path.join(world.storage, "web01", file);

beforeAll(async () => {
  data = tempDir("verify-data");
  writeSource(path.join(data, "site"), 1);
  world = await makeWorld([path.join(data, "site")]);
  server = await startServer(world);
  const first = runClientOnce(world);
  expect(first.status).toBe(0);
  firstArchive = first.report.results[0]!.archive!;
});
afterAll(async () => {
  await server?.stop();
});

describe("hashrelay verify", () => {
  test("an intact store passes: a sample with the first and last members, then --deep over every chunk", () => {
    const plain = verify();
    expect(plain.stderr).toBe("");
    expect(plain.status).toBe(0);
    const [v] = plain.verdicts;
    expect(v!.file).toBe(firstArchive);
    expect(v!.status).toBe("ok");
    expect(v!.chunks).toBeGreaterThan(40);
    expect(v!.proven).toBe(34);
    const text = verifyText();
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(
      new RegExp(`^ok +${firstArchive.replaceAll(".", "\\.")}: 34 of ${v!.chunks} chunks proven \\(a sample`, "m"),
    );
    const deep = verify("site", "--deep");
    expect(deep.status).toBe(0);
    expect(deep.verdicts[0]!.proven).toBe(deep.verdicts[0]!.chunks);
  });

  test("a byte flipped in the stored file (times kept, as bit rot would) fails --deep, naming the archive and the member", async () => {
    await withDamage(stored(firstArchive), flipByte, () => {
      const result = verify("site", "--deep");
      expect(result.status).toBe(1);
      const [v] = result.verdicts;
      expect(v!.status).toBe("failed");
      expect(v!.problems[0]).toMatch(/^member \d+ \(chunk [0-9a-f]{16}…\)/);
      const text = verifyText("site", "--deep");
      expect(text.status).toBe(1);
      expect(text.stdout).toContain(`FAILED        ${firstArchive}: member `);
      expect(text.stdout).toContain("NOT proven");
    });
    expect(verify("site", "--deep").status).toBe(0);
  });

  test("a truncated file fails even a plain sample (the last member is always challenged)", async () => {
    await withDamage(
      stored(firstArchive),
      (file) => fs.truncateSync(file, fs.statSync(file).size - 100),
      () => {
        const result = verify();
        expect(result.status).toBe(1);
        const [v] = result.verdicts;
        expect(v!.status).toBe("failed");
        expect(v!.problems.join("\n")).toContain(`member ${v!.chunks - 1} `);
        expect(v!.problems.join("\n")).toContain("cannot read it");
      },
    );
  });

  test("answers do not run out: ten deep verifies in a row pass, fresh ones made from the unchanged source", () => {
    let refreshed = 0;
    for (let i = 0; i < 10; i++) {
      const result = verify("site", "--deep");
      expect(result.status).toBe(0);
      refreshed += result.verdicts[0]!.refreshed;
    }
    expect(refreshed).toBeGreaterThan(0);
  });

  test("lost proof material: unverifiable (exit 1), never a pass; the local source gives new answers for the next run", () => {
    fs.rmSync(path.join(world.state, "proofs.sqlite"));
    for (const extra of ["-wal", "-shm"]) fs.rmSync(path.join(world.state, `proofs.sqlite${extra}`), { force: true });
    const text = verifyText("site");
    expect(text.status).toBe(1);
    expect(text.stdout).toContain(`UNVERIFIABLE  ${firstArchive}: none of the 34 members picked has an unspent proof answer left`);
    const again = verify("site", "--deep");
    expect(again.status).toBe(0);
    expect(again.verdicts[0]!.proven).toBe(again.verdicts[0]!.chunks);
  });

  test("a stored file replaced by another valid archive fails, before and after the server rescans it", async () => {
    await Bun.sleep(1100);
    writeSource(path.join(data, "site"), 2);
    const second = runClientOnce(world);
    expect(second.status).toBe(0);
    const secondArchive = second.report.results[0]!.archive!;
    expect(secondArchive).not.toBe(firstArchive);
    // the superseded archive is in the trash and still provable with --file
    const trashed = verify("site", "--file", firstArchive);
    expect(trashed.status).toBe(0);
    expect(trashed.verdicts[0]!.trashed).toBe(true);
    expect(verify("site", "--deep").status).toBe(0);

    await withDamage(
      stored(secondArchive),
      (file) => fs.copyFileSync(path.join(world.storage, ".trash", "web01", firstArchive), file),
      async () => {
        const running = verify("site");
        expect(running.status).toBe(1);
        expect(running.verdicts[0]!.status).toBe("failed");
        expect(running.verdicts[0]!.file).toBe(secondArchive);
        // restarted, the server indexes the file it finds: its chunk list is no longer the receipted one
        await server.stop();
        server = await startServer(world);
        const rescanned = verify("site");
        expect(rescanned.status).toBe(1);
        expect(rescanned.verdicts[0]!.problems[0]).toContain("the receipt says");
      },
    );
    await server.stop();
    server = await startServer(world);
    expect(verify("site").status).toBe(0);
  });
});

describe("an archive deleted on the NAS behind the server's back", () => {
  test("the next tick does not answer unchanged from the index: it sends the archive again whole, and verify passes", () => {
    const before = runClientOnce(world);
    expect(before.report.results[0]!.status).toBe("unchanged");
    const latest = before.report.results[0]!.archive!;
    fs.rmSync(stored(latest));
    const after = runClientOnce(world);
    expect(after.status).toBe(0);
    const [result] = after.report.results;
    expect(result!.status).toBe("sent");
    expect(result!.chunksSent).toBe(result!.chunksTotal);
    expect(fs.existsSync(stored(result!.archive!))).toBe(true);
    expect(spawnSync("gzip", ["-t", stored(result!.archive!)]).status).toBe(0);
    expect(verify("site").status).toBe(0);
  });
});
