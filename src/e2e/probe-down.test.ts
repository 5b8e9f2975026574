// End to end: an open port alone is not Up. A closed port, a server that accepts and never answers, and a server with another key are each Down, with distinct reasons.
import { afterAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import {
  ensureBinary,
  freePort,
  keygen,
  makeWorld,
  runBinary,
  startServer,
  tempDir,
  writeClientConfig,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";

const sockets: net.Socket[] = [];
let silent: net.Server | null = null;
let server: ServerProcess | null = null;
afterAll(async () => {
  for (const s of sockets) s.destroy();
  silent?.close();
  await server?.stop();
});

/** `client --once --json` as a child process (the three run at once: the silent one waits out the handshake timeout). */
function runOnce(
  world: World,
): Promise<{ status: number | null; report: { server: string; results: { status: string; bytesSent: number }[] } }> {
  return new Promise((resolve, reject) => {
    const child = spawn(ensureBinary(), ["client", "--once", "--json", "--config", world.clientConfig], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    child.once("exit", (status) => {
      try {
        resolve({ status, report: JSON.parse(out) });
      } catch {
        reject(new Error(`no JSON from the client (exit ${status}):\n${out}\n${err}`));
      }
    });
  });
}

test("refused, timeout and unauthorized: each Down, nothing attempted, and the log says which", async () => {
  const source = path.join(tempDir("probe"), "docs");
  fs.mkdirSync(source);
  fs.writeFileSync(path.join(source, "a.txt"), "a\n");

  // 1. Nothing listens on the port.
  const closed = await makeWorld([source]);
  writeClientConfig(closed, [source], { port: await freePort() });

  // 2. Something accepts the connection and never says a word.
  const mute = await makeWorld([source]);
  silent = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
  });
  const mutePort = await new Promise<number>((resolve) =>
    silent!.listen(0, "127.0.0.1", () => resolve((silent!.address() as net.AddressInfo).port)),
  );
  writeClientConfig(mute, [source], { port: mutePort });

  // 3. A real HashRelay server, but not the one the client pins.
  const impostor = await makeWorld([source]);
  server = await startServer(impostor);
  writeClientConfig(impostor, [source], { serverKey: keygen(path.join(impostor.dir, "another-server.key")) });

  const started = Date.now();
  const [r1, r2, r3] = await Promise.all([runOnce(closed), runOnce(mute), runOnce(impostor)]);
  const took = Date.now() - started;

  expect([r1.status, r2.status, r3.status]).toEqual([3, 3, 4]);
  for (const r of [r1, r2, r3]) {
    expect(r.report.server).toBe("down");
    expect(r.report.results).toEqual([expect.objectContaining({ status: "skipped", bytesSent: 0 })]);
  }
  // The silent server costs three handshake timeouts (10 s each: a client tries twice more, 1 s then 2 s
  // later, as a loaded server may answer late), not an idle timeout (60 s) each.
  expect(took).toBeLessThan(50_000);

  const statusOf = (w: World) => JSON.parse(runBinary(["status", "--json", "--config", w.clientConfig]).stdout).client;
  const kinds = [statusOf(closed), statusOf(mute), statusOf(impostor)];
  expect(kinds.map((s) => [s.server, s.kind])).toEqual([
    ["down", "refused"],
    ["down", "timeout"],
    ["down", "unauthorized"],
  ]);
  expect(new Set(kinds.map((s) => s.reason)).size).toBe(3);

  const logOf = (w: World) => fs.readFileSync(path.join(w.state, "hashrelay.log"), "utf8");
  expect(logOf(closed)).toContain("backup of docs not performed: server down (connection refused (127.0.0.1:");
  expect(logOf(mute)).toMatch(
    /backup of docs not performed: server down \(timeout: server 127\.0\.0\.1:\d+ silent for 10 s \(it accepted the connection but did not answer\)\)/,
  );
  expect(logOf(impostor)).toContain("backup of docs not performed: server down (unauthorized: ");
  // Each is a first observation: logged once as a transition.
  for (const w of [closed, mute, impostor]) expect(logOf(w).split(" is Down: ").length - 1).toBe(1);
  // The impostor's storage never received anything.
  expect(fs.existsSync(path.join(impostor.storage, "web01"))).toBe(false);
}, 90_000);
