// Test harness for end-to-end tests: the compiled binary as real processes, real keys, real folders, loopback TCP.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { noise } from "./noise.ts";

export const ROOT = path.resolve(import.meta.dir, "..", "..");
export const BINARY = path.join(ROOT, "dist", "hashrelay");

/** Builds dist/hashrelay once if it is missing (npm test builds it before the tests). */
export function ensureBinary(): string {
  if (!fs.existsSync(BINARY)) {
    const built = spawnSync(process.execPath, [path.join(ROOT, "build", "build.ts")], { stdio: "inherit" });
    if (built.status !== 0) throw new Error("build failed");
  }
  return BINARY;
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `hashrelay-${prefix}-`));
}

export function runBinary(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const result = spawnSync(ensureBinary(), args, {
    encoding: "utf8",
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    timeout: 180_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function keygen(file: string): string {
  const result = runBinary(["keygen", "--out", file]);
  if (result.status !== 0) throw new Error(`keygen failed: ${result.stderr}`);
  return result.stdout.trim();
}

/**
 * Ports handed to servers the tests start: below Linux's ephemeral range (32768-60999 by default). A
 * port the kernel picks with listen(0) comes from that range, which every outgoing connection on the
 * machine also draws from: between our close and the server's bind, a connection of another test run
 * could take it (seen: EADDRINUSE with two gates at once). Here only another listener picking the same
 * random port in the same instant could.
 */
const TEST_PORTS = { first: 20_000, count: 12_000 } as const;

/** A port free on 127.0.0.1 now, picked at random in TEST_PORTS (bound and released to check). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = TEST_PORTS.first + Math.floor(Math.random() * TEST_PORTS.count);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

export interface World {
  dir: string;
  port: number;
  serverPub: string;
  clientPub: string;
  serverConfig: string;
  clientConfig: string;
  storage: string;
  state: string;
}

/** Keys, a server config and a client config (client name "web01") in a new temp folder; sources relative to it. */
export async function makeWorld(sources: string[], opts: { keep?: number; trashFor?: string; clientName?: string } = {}): Promise<World> {
  const dir = tempDir("e2e");
  const port = await freePort();
  const serverPub = keygen(path.join(dir, "server.key"));
  const clientPub = keygen(path.join(dir, "client.key"));
  const world: World = {
    dir,
    port,
    serverPub,
    clientPub,
    serverConfig: path.join(dir, "server.yaml"),
    clientConfig: path.join(dir, "client.yaml"),
    storage: path.join(dir, "nas"),
    state: path.join(dir, "state"),
  };
  writeServerConfig(world, [{ name: "web01", key: clientPub }], opts);
  writeClientConfig(world, sources, { name: opts.clientName ?? "web01" });
  return world;
}

export function writeServerConfig(
  world: World,
  clients: { name: string; key: string }[],
  opts: { keep?: number; trashFor?: string } = {},
): void {
  const list = clients.map((c) => `    - name: ${c.name}\n      key: "${c.key}"\n`).join("");
  fs.writeFileSync(
    world.serverConfig,
    `version: 1\nport: ${world.port}\nserver:\n  listen: 127.0.0.1\n  key: ./server.key\n  storage: ./nas\n  retention:\n    keep: ${opts.keep ?? 1}\n    trashFor: ${opts.trashFor ?? "48h"}\n  clients:\n${list}`,
  );
}

export function writeClientConfig(
  world: World,
  sources: string[],
  opts: { name?: string; serverKey?: string; key?: string; port?: number } = {},
): void {
  const paths = sources.map((s) => `    - ${JSON.stringify(s)}\n`).join("");
  fs.writeFileSync(
    world.clientConfig,
    `version: 1\nport: ${opts.port ?? world.port}\nclient:\n  name: ${opts.name ?? "web01"}\n  server: 127.0.0.1\n  serverKey: "${opts.serverKey ?? world.serverPub}"\n  key: ${opts.key ?? "./client.key"}\n  schedule: "every 30m"\n  state: ./state\n  paths:\n${paths}`,
  );
}

export interface ServerProcess {
  child: ChildProcess;
  log(): string;
  waitForLog(text: string | RegExp, timeoutMs?: number): Promise<void>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `hashrelay server` and resolves once it listens; `env` adds to the environment (e.g. NOTIFY_SOCKET). */
export async function startServer(world: World, opts: { env?: Record<string, string>; args?: string[] } = {}): Promise<ServerProcess> {
  const args = ["server", "--config", world.serverConfig, ...(opts.args ?? [])];
  const child = spawn(ensureBinary(), args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...opts.env } });
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const handle: ServerProcess = {
    child,
    log: () => log,
    waitForLog: async (text, timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (typeof text === "string" ? log.includes(text) : text.test(log)) return;
        if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${log}`);
        await Bun.sleep(25);
      }
      throw new Error(`server log never showed ${text}:\n${log}`);
    },
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  await handle.waitForLog("listening on");
  return handle;
}

export interface ClientReport {
  server: "up" | "down";
  results: {
    name: string;
    archive: string | null;
    status: string;
    bytesSent: number;
    chunksTotal: number;
    chunksSent: number;
    error?: string;
  }[];
}

/** Runs `hashrelay client --once --json` and parses its report. */
export function runClientOnce(world: World): { status: number | null; report: ClientReport; stderr: string } {
  const result = runBinary(["client", "--once", "--json", "--config", world.clientConfig]);
  let report: ClientReport;
  try {
    report = JSON.parse(result.stdout) as ClientReport;
  } catch {
    throw new Error(`client printed no JSON (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
  }
  return { status: result.status, report, stderr: result.stderr };
}

/** Every file under dir, relative, sorted (folders with a trailing slash). */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.push(`${r}/`);
        walk(path.join(d, e.name), r);
      } else out.push(r);
    }
  };
  if (fs.existsSync(dir)) walk(dir, "");
  return out.sort();
}

/** Mode, mtime (s), link target or content SHA-256 of every entry under `dir`: what a byte-identical restore must give back. */
export function treeFacts(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of listTree(dir)) {
    const p = path.join(dir, rel.replace(/\/$/, ""));
    const st = fs.lstatSync(p);
    const what = st.isSymbolicLink()
      ? `-> ${fs.readlinkSync(p)}`
      : st.isFile()
        ? new Bun.CryptoHasher("sha256").update(fs.readFileSync(p)).digest("hex")
        : "dir";
    // A folder's mtime moves while tar writes into it and is then set back: compare them too.
    out[rel] = `${st.mode.toString(8)} ${Math.floor(st.mtimeMs / 1000)} ${what}`;
  }
  return out;
}

/** Gives `target` the exact (nanosecond) times of `reference`, as `touch -r` does. */
export function touchLike(reference: string, target: string): void {
  const result = spawnSync("touch", ["-r", reference, target]);
  if (result.status !== 0) throw new Error(`touch -r ${reference} ${target} failed: ${result.stderr}`);
}

/** Flips one byte in the middle of `file` and puts its exact mtime back, like bit rot would. */
export function flipByte(file: string): void {
  const st = fs.statSync(file);
  const stamp = `${file}.stamp`;
  touchLike(file, stamp);
  const fd = fs.openSync(file, "r+");
  const at = Math.floor(st.size / 2);
  const byte = Buffer.alloc(1);
  fs.readSync(fd, byte, 0, 1, at);
  byte[0] = byte[0]! ^ 0x40;
  fs.writeSync(fd, byte, 0, 1, at);
  fs.closeSync(fd);
  touchLike(stamp, file);
  fs.rmSync(stamp);
}

/**
 * Writes `count` files of `size` incompressible bytes, `PREFIX-N.bin`, into `dir` (created): an archive
 * of many members, the same bytes for the same seed and different ones for another seed.
 */
export function writeNoiseFiles(dir: string, seed: number, count: number, size: number, prefix: string): void {
  fs.mkdirSync(dir, { recursive: true });
  // odd and distinct per (seed, file): noise() treats a seed and seed | 1 alike
  for (let f = 0; f < count; f++) fs.writeFileSync(path.join(dir, `${prefix}-${f}.bin`), noise(size, seed * 1024 + f * 2 + 1));
}
