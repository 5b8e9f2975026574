// End to end: the client machine is lost (state folder and key gone); from the NAS alone a new install lists, restores byte-identical and verifies its archives, saying what anchors each.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  keygen,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  treeFacts,
  writeNoiseFiles,
  writeServerConfig,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

let world: World;
let server: ServerProcess;
let site: string;
/** The tree as the first backup saw it, and that backup's (then trashed) archive. */
let firstTree: Record<string, string>;
let firstArchive: string;
let latestArchive: string;
/** What the admin kept offline: the old client's key file. */
let offlineKey: string;

/** A tree with text, incompressible files, a symlink, an empty folder and old times. */
function writeTree(dir: string, version: number): void {
  writeNoiseFiles(path.join(dir, "data"), version, 3, 300 * 1024, "part");
  fs.mkdirSync(path.join(dir, "empty"), { recursive: true });
  fs.writeFileSync(path.join(dir, "notes.txt"), `version ${version}\n`);
  if (!fs.existsSync(path.join(dir, "latest"))) fs.symlinkSync("notes.txt", path.join(dir, "latest"));
  const old = new Date("2022-02-02T02:02:02Z");
  fs.utimesSync(path.join(dir, "empty"), old, old);
}

/** The machine is gone: its state folder and its key. */
function loseTheClient(): void {
  fs.rmSync(world.state, { recursive: true, force: true });
  fs.rmSync(path.join(world.dir, "client.key"), { force: true });
}

/** The server config lists `key` under the old name web01; the server restarts on it. */
async function linkAsWeb01(key: string): Promise<void> {
  writeServerConfig(world, [{ name: "web01", key }]);
  await server.stop();
  server = await startServer(world);
}

function restore(...args: string[]): { status: number | null; stdout: string; stderr: string; to: string } {
  const to = path.join(tempDir("dr-restore"), "out");
  return { ...runBinary(["restore", "site", "--config", world.clientConfig, "--to", to, ...args]), to };
}

beforeAll(async () => {
  const data = tempDir("dr-data");
  site = path.join(data, "site");
  writeTree(site, 1);
  world = await makeWorld([site]);
  server = await startServer(world);
  const first = runClientOnce(world);
  expect(first.status).toBe(0);
  firstArchive = first.report.results[0]!.archive!;
  firstTree = treeFacts(site);
  await Bun.sleep(1100); // the next archive gets another time stamp
  writeTree(site, 2);
  const second = runClientOnce(world);
  expect(second.status).toBe(0);
  latestArchive = second.report.results[0]!.archive!;
  offlineKey = path.join(tempDir("dr-offline"), "client.key");
  fs.copyFileSync(path.join(world.dir, "client.key"), offlineKey);
});
afterAll(async () => {
  await server?.stop();
});

describe("the NAS keeps what anchors each archive", () => {
  test("a signed record per archive under .signed (the client folder holds archives only); the trashed one's beside its item", () => {
    expect(fs.readdirSync(path.join(world.storage, "web01"))).toEqual([latestArchive]);
    const record = JSON.parse(fs.readFileSync(path.join(world.storage, ".signed", "web01", `${latestArchive}.json`), "utf8"));
    expect(record.manifest.key).toBe(world.clientPub);
    expect(record.receipt.key).toBe(world.serverPub);
    expect(fs.existsSync(path.join(world.storage, ".trash", "web01", `${firstArchive}.signed.json`))).toBe(true);
  });
});

describe("a new machine with a new key, linked under the old name", () => {
  let oldPub: string;
  beforeAll(async () => {
    oldPub = world.clientPub;
    loseTheClient();
    await linkAsWeb01(keygen(path.join(world.dir, "client.key")));
  });

  test("lists, then restores the newest archive byte-identical, anchored by the server's receipt, saying which key signed the manifest", () => {
    const ls = runBinary(["ls", "--config", world.clientConfig, "--json"]);
    expect(ls.status).toBe(0);
    expect((JSON.parse(ls.stdout) as { archives: { file: string }[] }).archives.map((a) => a.file)).toEqual([latestArchive, firstArchive]);
    const result = restore();
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`restored ${latestArchive} into`);
    expect(result.stdout).toContain(`anchored by the server's receipt (signed by the pinned server key ${world.serverPub})`);
    expect(result.stdout).toContain(`the manifest is signed by ${oldPub}, not this client's key: pass --client-key ${oldPub}`);
    expect(spawnSync("diff", ["-r", "--no-dereference", site, path.join(result.to, "site")]).status).toBe(0);
    expect(treeFacts(path.join(result.to, "site"))).toEqual(treeFacts(site));
  });

  test("--client-key with the old public key kept offline: the manifest's signature anchors it; another key is refused", () => {
    const vouched = restore("--client-key", oldPub, "--json");
    expect(vouched.status).toBe(0);
    expect(JSON.parse(vouched.stdout)).toMatchObject({ file: latestArchive, anchor: "client-manifest" });
    const wrong = restore("--client-key", world.serverPub);
    expect(wrong.status).toBe(4);
    expect(wrong.stderr).toContain(`is signed by ${oldPub}, not by the client key you gave`);
    expect(fs.readdirSync(wrong.to)).toEqual([]);
  });

  test("the trashed archive restores too: the tree of the first backup", () => {
    const result = restore("--file", firstArchive);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("(from trash)");
    expect(treeFacts(path.join(result.to, "site"))).toEqual(firstTree);
  });

  test("verify: no proof answers on this machine, so UNVERIFIABLE with the way out; --download then proves every chunk", () => {
    const plain = runBinary(["verify", "--config", world.clientConfig]);
    expect(plain.status).toBe(1);
    expect(plain.stdout).toContain(`UNVERIFIABLE  ${latestArchive}: none of the`);
    expect(plain.stdout).toContain("hashrelay verify --download checks every chunk by downloading it");
    const text = runBinary(["verify", "--config", world.clientConfig, "--download"]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^ok +${latestArchive.replaceAll(".", "\\.")}: downloaded, all \\d+ chunks match`, "m"));
    const json = JSON.parse(runBinary(["verify", "--config", world.clientConfig, "--download", "--json", "--client-key", oldPub]).stdout);
    expect(json.archives[0]).toMatchObject({ status: "ok", downloaded: true, anchor: "client-manifest" });
    expect(json.archives[0].proven).toBe(json.archives[0].chunks);
  });
});

describe("a new machine with the old key restored from the offline copy", () => {
  beforeAll(async () => {
    loseTheClient();
    fs.copyFileSync(offlineKey, path.join(world.dir, "client.key"));
    await linkAsWeb01(world.clientPub);
  });

  test("the manifest signed by this very key anchors the restore", () => {
    const result = restore("--json");
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      anchor: "client-manifest",
      anchoredBy: `the manifest signed by this client's key ${world.clientPub}`,
    });
    expect(treeFacts(path.join(result.to, "site"))).toEqual(treeFacts(site));
  });

  test("a manifest altered on the NAS is refused (exit 4) and nothing is restored", async () => {
    const recordFile = path.join(world.storage, ".signed", "web01", `${latestArchive}.json`);
    const original = fs.readFileSync(recordFile, "utf8");
    const record = JSON.parse(original);
    record.manifest.body = record.manifest.body.replace(/"createdAt":"[^"]+"/, '"createdAt":"2020-01-01T00:00:00.000Z"');
    fs.writeFileSync(recordFile, JSON.stringify(record));
    try {
      const result = restore();
      expect(result.status).toBe(4);
      expect(result.stderr).toContain("manifest signature by");
      expect(fs.readdirSync(result.to)).toEqual([]);
    } finally {
      fs.writeFileSync(recordFile, original);
    }
  });

  test("an archive stored before records were kept: restored on the server's receipt alone, and said so", async () => {
    const recordFile = path.join(world.storage, ".signed", "web01", `${latestArchive}.json`);
    const kept = fs.readFileSync(recordFile);
    fs.rmSync(recordFile);
    try {
      const result = restore();
      expect(result.status).toBe(0);
      expect(result.stdout).toContain("anchored by the server's receipt alone");
      expect(result.stdout).toContain("was stored before the server kept the client's signed manifest");
    } finally {
      fs.writeFileSync(recordFile, kept);
    }
  });
});
