// End to end: the server reinstalled with a new identity is a clear event: every tick says so, one command re-pins after confirmation, old receipts stay checkable.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  BINARY,
  keygen,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

let world: World;
let server: ServerProcess;
let site: string;
let firstArchive: string;
let latestArchive: string;
/** The server's identity before and after its reinstall. */
let before: string;
let after: string;
/** The client config as the admin wrote it, with comments. */
let configText: string;

const receiptOf = (file: string) => path.join(world.state, "receipts", "site", `${file}.receipt.json`);
const keyOfReceipt = (file: string) => (JSON.parse(fs.readFileSync(receiptOf(file), "utf8")) as { key: string }).key;

/** The server is reinstalled: same storage (index and receipts included), a new key. Returns the new public key. */
async function reinstallServer(): Promise<string> {
  await server.stop();
  const pub = keygen(path.join(world.dir, "server.key.new"));
  fs.renameSync(path.join(world.dir, "server.key.new"), path.join(world.dir, "server.key"));
  server = await startServer(world);
  return pub;
}

beforeAll(async () => {
  site = path.join(tempDir("identity-data"), "site");
  fs.mkdirSync(site, { recursive: true });
  fs.writeFileSync(path.join(site, "a.txt"), "version 1\n");
  world = await makeWorld([site]);
  // as an admin keeps it: comments on the pinned key
  configText = fs.readFileSync(world.clientConfig, "utf8").replace(/(serverKey: .*)\n/, "$1   # the NAS, pinned at install\n");
  configText = `# web01 -> nas\n${configText}`;
  fs.writeFileSync(world.clientConfig, configText);
  server = await startServer(world);
  firstArchive = runClientOnce(world).report.results[0]!.archive!;
  await Bun.sleep(1100); // another time stamp for the next archive
  fs.writeFileSync(path.join(site, "a.txt"), "version 2\n");
  latestArchive = runClientOnce(world).report.results[0]!.archive!;
  before = world.serverPub;
  after = await reinstallServer();
});
afterAll(async () => {
  await server?.stop();
});

describe("the server reinstalled with a new identity", () => {
  test("every tick says so, with the command that re-pins it: the result, the status and the log; nothing is sent", () => {
    const told = `the server's identity changed from ${before} to ${after}; if this is expected, run hashrelay trust-server --config ${world.clientConfig}`;
    const { status, report } = runClientOnce(world);
    expect(status).toBe(4);
    expect(report.server).toBe("down");
    expect(report.results[0]).toMatchObject({ status: "skipped", bytesSent: 0 });
    expect(report.results[0]!.error).toContain(told);
    expect(runBinary(["status", "--config", world.clientConfig]).stdout).toContain(told);
    expect(fs.readFileSync(path.join(world.state, "hashrelay.log"), "utf8")).toContain(
      `backup of site not performed: server down (unauthorized: ${told})`,
    );
  });

  test("trust-server refuses a --key the server does not present, and without a terminal shows both keys; nothing changes", () => {
    const wrong = runBinary(["trust-server", "--config", world.clientConfig, "--key", before]);
    expect(wrong.status).toBe(4);
    expect(wrong.stderr).toContain(`the server presents ${after}, not the key you gave (${before}): nothing changed`);
    const unconfirmed = runBinary(["trust-server", "--config", world.clientConfig]);
    expect(unconfirmed.status).toBe(2);
    expect(unconfirmed.stderr).toContain(
      `the server now presents ${after} (pinned: ${before}); confirm on a terminal, or pass --key ${after}`,
    );
    expect(fs.readFileSync(world.clientConfig, "utf8")).toBe(configText);
  });

  test("trust-server --key pins it, comments kept, the old key kept; the unchanged source is unchanged again, on a receipt signed anew", () => {
    const pinned = runBinary(["trust-server", "--config", world.clientConfig, "--key", after]);
    expect(pinned.stderr).toBe("");
    expect(pinned.status).toBe(0);
    expect(pinned.stdout).toContain(`pinned ${after} as the server's key in ${world.clientConfig} (was ${before};`);
    expect(fs.readFileSync(world.clientConfig, "utf8")).toBe(configText.replace(before, after));
    const kept = JSON.parse(fs.readFileSync(path.join(world.state, "server-keys.json"), "utf8"));
    expect(kept.before.map((k: { key: string }) => k.key)).toEqual([before]);
    // the server held its old receipts in its index: it signs them again, so the source is not failed for ever
    const tick = runClientOnce(world);
    expect(tick.status).toBe(0);
    expect(tick.report.results[0]).toMatchObject({ status: "unchanged", archive: latestArchive, bytesSent: 0 });
    expect(keyOfReceipt(latestArchive)).toBe(after);
    expect(runBinary(["trust-server", "--config", world.clientConfig]).stdout).toContain(
      `the server presents the pinned key ${after}: nothing to do`,
    );
  });

  test("receipts the old identity signed stay checkable: receipt verify --config, restore and verify of the archive they anchor", () => {
    expect(keyOfReceipt(firstArchive)).toBe(before);
    const checked = runBinary(["receipt", "verify", receiptOf(firstArchive), "--config", world.clientConfig]);
    expect(checked.status).toBe(0);
    expect(checked.stdout).toContain(`valid receipt signed by ${before} (the server key this client pinned until `);
    expect(runBinary(["receipt", "verify", receiptOf(firstArchive), "--server-key", after]).status).toBe(4);
    const to = path.join(tempDir("identity-restore"), "out");
    const restored = runBinary(["restore", "site", "--config", world.clientConfig, "--file", firstArchive, "--to", to]);
    expect(restored.status).toBe(0);
    expect(restored.stdout).toContain(
      `anchored by the receipt this client kept (signed by ${before}, the server key this client pinned until `,
    );
    expect(fs.readFileSync(path.join(to, "site", "a.txt"), "utf8")).toBe("version 1\n");
    expect(runBinary(["verify", "site", "--file", firstArchive, "--config", world.clientConfig]).status).toBe(0);
  });

  const hasScript = spawnSync("script", ["--version"]).status === 0;
  test.skipIf(!hasScript)(
    "reinstalled again: trust-server on a terminal shows both keys and pins the new one once the admin says yes",
    async () => {
      const pinnedNow = after;
      const third = await reinstallServer();
      const command = `${BINARY} trust-server --config ${world.clientConfig}`;
      const declined = spawnSync("script", ["-qec", command, "/dev/null"], { input: "n\n", encoding: "utf8" });
      expect(declined.status).toBe(2);
      expect(fs.readFileSync(world.clientConfig, "utf8")).toContain(pinnedNow);
      const run = spawnSync("script", ["-qec", command, "/dev/null"], { input: "y\n", encoding: "utf8" });
      expect(run.stdout).toContain(`pinned now:           ${pinnedNow}`);
      expect(run.stdout).toContain(`the server presents:  ${third}`);
      expect(run.stdout).toContain(`Pin ${third}? [y/N]`);
      expect(run.status).toBe(0);
      expect(fs.readFileSync(world.clientConfig, "utf8")).toBe(configText.replace(before, third));
      expect(runClientOnce(world).status).toBe(0);
    },
  );
});
