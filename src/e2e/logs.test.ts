// End to end: both daemons log one line per event to stderr and to their log file; JSON on request; no private key ever.
import { afterAll, beforeAll, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import {
  freePort,
  keygen,
  makeWorld,
  runBinary,
  runClientOnce,
  startServer,
  tempDir,
  writeClientConfig,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

let world: World;
let server: ServerProcess;
let source: string;

beforeAll(async () => {
  source = path.join(tempDir("logs"), "docs");
  fs.mkdirSync(source);
  fs.writeFileSync(path.join(source, "a.txt"), "a\n");
  world = await makeWorld([source]);
  server = await startServer(world, { args: ["--log-format", "json"] });
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

/** The base64 seed of a private key file: what must never appear in any log. */
function secretOf(keyFile: string): string {
  const line = fs
    .readFileSync(keyFile, "utf8")
    .split("\n")
    .find((l) => l.startsWith("hashrelay-ed25519-seed:"))!;
  return line.slice("hashrelay-ed25519-seed:".length).trim();
}

test("the server's log file under storage/.hashrelay holds the same JSON lines as its stderr", async () => {
  expect(runClientOnce(world).status).toBe(0);
  await server.waitForLog("stored web01/backup-docs-");
  const file = path.join(world.storage, ".hashrelay", "hashrelay-server.log");
  const lines = fs.readFileSync(file, "utf8").trimEnd().split("\n");
  const records = lines.map((l) => JSON.parse(l) as { time: string; level: string; msg: string; client?: string });
  expect(records.some((r) => r.msg.startsWith("listening on 127.0.0.1:"))).toBe(true);
  expect(records.some((r) => r.msg.startsWith("stored web01/backup-docs-") && r.client === "web01")).toBe(true);
  for (const line of lines) expect(server.log()).toContain(line);
}, 60_000);

test("no private key reaches a log: backups, a stranger, a wrong pinned key, a server down, a broken key file", async () => {
  const strangerFile = path.join(world.dir, "stranger.key");
  keygen(strangerFile);
  const outputs: string[] = [];
  fs.writeFileSync(path.join(source, "b.txt"), "b\n");
  outputs.push(runClientOnce(world).stderr);
  writeClientConfig(world, [source], { key: "./stranger.key" });
  outputs.push(runClientOnce(world).stderr);
  writeClientConfig(world, [source], { serverKey: keygen(path.join(world.dir, "other-server.key")) });
  outputs.push(runClientOnce(world).stderr);
  writeClientConfig(world, [source], { port: await freePort() });
  outputs.push(runClientOnce(world).stderr);
  // A key file with its secret line mangled: the error names the file, never its content.
  const broken = path.join(world.dir, "broken.key");
  const clientSecret = secretOf(path.join(world.dir, "client.key"));
  fs.writeFileSync(broken, `hashrelay-ed25519-seed:${clientSecret.slice(0, 30)}\n`, { mode: 0o600 });
  writeClientConfig(world, [source], { key: "./broken.key" });
  const brokenRun = runBinary(["client", "--once", "--config", world.clientConfig]);
  expect(brokenRun.status).toBe(2);
  outputs.push(brokenRun.stdout, brokenRun.stderr);

  const everything = [
    ...outputs,
    server.log(),
    fs.readFileSync(path.join(world.state, "hashrelay.log"), "utf8"),
    fs.readFileSync(path.join(world.storage, ".hashrelay", "hashrelay-server.log"), "utf8"),
  ].join("\n");
  expect(everything).toContain("unknown client key");
  expect(everything).toContain("not performed: server down");
  for (const keyFile of ["client.key", "server.key", "stranger.key", "other-server.key"]) {
    const secret = secretOf(path.join(world.dir, keyFile));
    expect(secret.length).toBe(44);
    expect(everything).not.toContain(secret);
    // nor a long piece of it
    expect(everything).not.toContain(secret.slice(0, 16));
  }
}, 60_000);
