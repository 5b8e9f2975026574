// End to end: ransomware simulation. Every file of a source encrypted with random keys: the new archive is
// stored, the last good one is held out of retention, client status and server metrics say so, release lets retention go on.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createCipheriv, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  freePort,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";
import { writeDocuments } from "../testing/document-tree.ts";

let world: World;
let server: ServerProcess;
let source: string;
let metricsPort: number;
let files: string[];

const inStorage = () => fs.readdirSync(path.join(world.storage, "web01")).sort();
const inTrash = () =>
  fs.existsSync(path.join(world.storage, ".trash", "web01"))
    ? fs
        .readdirSync(path.join(world.storage, ".trash", "web01"))
        .filter((f) => !f.endsWith(".trashed") && !f.endsWith(".signed.json")) // the sidecars beside each item
        .sort()
    : [];
type HeldResult = { name: string; archive: string; status: string; held?: { file: string; since: string; reason: string } };

async function scrape(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
}

beforeAll(async () => {
  source = path.join(tempDir("hold"), "docs");
  files = writeDocuments(source);
  world = await makeWorld([source]);
  metricsPort = await freePort();
  fs.appendFileSync(world.serverConfig, `  metrics: 127.0.0.1:${metricsPort}\n`);
  server = await startServer(world);
});
afterAll(async () => {
  await server?.stop();
});

test("a normal edit of the tree is not held: the previous archive goes to the trash as usual", async () => {
  const first = runClientOnce(world);
  expect(first.status).toBe(0);
  await Bun.sleep(1100); // archive names carry the second
  for (const file of files.slice(0, 10)) fs.appendFileSync(file, "edited today\n");
  const second = runClientOnce(world);
  expect(second.status).toBe(0);
  const result = second.report.results[0] as HeldResult;
  expect(result.status).toBe("sent");
  expect(result.held).toBeUndefined();
  expect(inStorage()).toEqual([result.archive]);
  expect(inTrash()).toEqual([first.report.results[0]!.archive!]);
  expect(fs.existsSync(path.join(world.storage, ".holds", "web01", "docs.json"))).toBe(false);
});

test("every file encrypted with a random key: stored, the last good archive held, status and metrics show it, release lets retention go on", async () => {
  const good = inStorage()[0]!;
  await Bun.sleep(1100);
  for (const file of files) {
    const cipher = createCipheriv("aes-256-ctr", randomBytes(32), randomBytes(16));
    fs.writeFileSync(file, Buffer.concat([cipher.update(fs.readFileSync(file)), cipher.final()]));
  }
  const tick = runClientOnce(world);
  expect(tick.status).toBe(0);
  const result = tick.report.results[0] as HeldResult;
  expect(result.status).toBe("sent");
  const encrypted = result.archive;
  // the new archive is stored; the previous one is still in place and not in the trash
  expect(inStorage()).toEqual([good, encrypted].sort());
  expect(inTrash()).not.toContain(good);
  expect(result.held).toMatchObject({ file: good });
  expect(result.held!.reason).toContain("looks encrypted");
  expect(tick.stderr).toContain(`server holds the previous archive ${good}: suspect replacement`);
  expect(tick.stderr).toContain("hashrelay release docs --client web01");

  const text = runBinary(["status", "--config", world.clientConfig]);
  expect(text.status).toBe(0);
  expect(text.stdout).toContain(`HELD: the server keeps ${good}`);
  const json = runBinary(["status", "--json", "--config", world.clientConfig]);
  expect(json.status).toBe(0);
  expect(JSON.parse(json.stdout).client.sources[0].held).toMatchObject({ file: good });

  const serverStatus = runBinary(["status", "--config", world.serverConfig]);
  expect(serverStatus.stdout).toContain(`web01/docs  keeps ${good}`);
  expect(await scrape()).toContain('hashrelay_held_archives{client="web01",name="docs"} 1');
  const listed = runBinary(["release", "--list", "--json", "--config", world.serverConfig]);
  expect(JSON.parse(listed.stdout).holds).toMatchObject([{ client: "web01", name: "docs", kept: good, suspect: encrypted }]);
  await server.waitForLog("archive.held");

  const released = runBinary(["release", "docs", "--client", "web01", "--config", world.serverConfig]);
  expect({ status: released.status, stdout: released.stdout }).toEqual({
    status: 0,
    stdout: expect.stringContaining(`released web01/docs: ${good} moved to the trash`),
  });
  expect(inStorage()).toEqual([encrypted]);
  expect(inTrash()).toContain(good);
  expect(await scrape()).not.toContain("hashrelay_held_archives{");
  await server.waitForLog("archive.released");

  // the next tick (tree unchanged) no longer hears of a hold
  const after = runClientOnce(world);
  expect((after.report.results[0] as HeldResult).held).toBeUndefined();
  expect(runBinary(["status", "--config", world.clientConfig]).stdout).not.toContain("HELD");
});

test("release of a name that is not held is a usage error", () => {
  const result = runBinary(["release", "docs", "--client", "web01", "--config", world.serverConfig]);
  expect(result.status).toBe(2);
  expect(result.stderr).toContain("no hold on web01/docs");
});
