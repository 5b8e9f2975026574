// End to end: the compiled binary needs nothing from the folder it was built in (its chunk worker is embedded).
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ensureBinary, makeWorld, ROOT, startServer, tempDir, type ServerProcess } from "../testing/e2e-harness.ts";

const root = process.getuid?.() === 0;
const unshare = spawnSync("unshare", ["--version"], { stdio: "ignore" }).status === 0;
if (!root || !unshare) console.error(`standalone binary test not run: ${!root ? "needs root (a private mount namespace)" : "unshare missing (util-linux)"}`);

describe.skipIf(!root || !unshare)("installed binary", () => {
  let server: ServerProcess | null = null;
  afterAll(async () => {
    await server?.stop();
  });

  test("a copy run with dist/ hidden (an empty tmpfs over it) still backs up: workers load from inside the binary", async () => {
    const data = path.join(tempDir("standalone"), "docs");
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, "a.bin"), Buffer.alloc(300_000, 7));
    const world = await makeWorld([data]);
    server = await startServer(world);
    const installed = path.join(tempDir("install"), "hashrelay");
    fs.copyFileSync(ensureBinary(), installed);
    fs.chmodSync(installed, 0o755);
    const dist = path.join(ROOT, "dist");
    const script = `mount -t tmpfs tmpfs "$1" && cd / && exec "$2" client --once --json --config "$3"`;
    const run = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", dist, installed, world.clientConfig], { encoding: "utf8", timeout: 60_000 });
    expect(run.stderr).not.toContain("chunk worker failed");
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout).results).toEqual([expect.objectContaining({ name: "docs", status: "sent" })]);
    // the host's dist/ was never touched
    expect(fs.existsSync(ensureBinary())).toBe(true);
  }, 60_000);
});
