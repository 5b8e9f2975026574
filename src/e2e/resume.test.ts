// End to end: a transfer cut at any point resumes on the next tick and sends only what the server still lacks.
import { afterAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import {
  ensureBinary,
  freePort,
  makeWorld,
  startServer,
  tempDir,
  writeClientConfig,
  type ClientReport,
  type ServerProcess,
} from "../testing/e2e-harness.ts";

const SEALED_CHUNK = 0x13;
const SEALED_CHUNK_DELTA = 0x15;
const SEALED_CONTEXT_DELTA = 0x16;
const SEALED_HASH_REQUEST = 0x17;
const SEALED_DELTA_BATCH = 0x19;
const isChunkFrame = (type: number) => type === SEALED_CHUNK || type === SEALED_CHUNK_DELTA || type === SEALED_CONTEXT_DELTA;
/** The client's page window (docs/ARCHITECTURE.md, page windows): at most this much of a page's chunks is in flight when a cut comes. */
const PAGE_WINDOW_BYTES = 8 * 1024 * 1024;

interface Tick {
  status: number | null;
  report: ClientReport;
  ms: number;
}

/** `hashrelay client --once --json` as a child process, awaited without blocking this process (the proxy runs here). */
function tick(config: string): Promise<Tick> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(ensureBinary(), ["client", "--once", "--json", "--config", config], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("exit", (status) => {
      clearTimeout(timer);
      try {
        resolve({ status, report: JSON.parse(out) as ClientReport, ms: Date.now() - started });
      } catch {
        reject(new Error(`client printed no JSON (exit ${status}):\n${out}\n${err}`));
      }
    });
  });
}

interface Attempt {
  /** Client→server bytes forwarded to the server. */
  bytesUp: number;
  /** CHUNK (and CHUNK_DELTA) frames forwarded whole to the server. */
  chunkFrames: number;
  /** The types of the client's frames whose header was forwarded. */
  types: Set<number>;
  cut: boolean;
}

/**
 * A TCP proxy in front of the server. Given cut points [N1, N2, …], it forwards the first N1
 * client→server bytes of a connection, then closes it (the server gets those bytes and an end; the
 * client a reset); the next connection long enough is cut at N2, and so on; connections that end
 * before their cut point (probes) do not use it up. It reads the plaintext frame headers (PROTOCOL.md
 * §2) to count the chunk frames that reached the server whole.
 */
class CuttingProxy {
  readonly attempts: Attempt[] = [];
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    server: net.Server,
    readonly port: number,
  ) {
    this.server = server;
  }

  /** `cutInside`: instead of byte counts, cut once, in the middle of the first frame of that type. */
  static async start(upstreamPort: number, cutPoints: number[], cutInside?: number): Promise<CuttingProxy> {
    const port = await freePort();
    let proxy!: CuttingProxy;
    const plan = [...cutPoints];
    let typeCut = cutInside;
    const server = net.createServer((client) =>
      proxy.relay(
        client,
        upstreamPort,
        plan[0] ?? Number.MAX_SAFE_INTEGER,
        () => (plan.shift(), (typeCut = undefined)),
        () => typeCut,
      ),
    );
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    proxy = new CuttingProxy(server, port);
    return proxy;
  }

  private relay(client: net.Socket, upstreamPort: number, cutPoint: number, onCut: () => void, cutInside: () => number | undefined): void {
    let cutAfter = cutPoint;
    // a second reader of the frame headers, ahead of the forwarding: where the first frame of type cutInside is
    let scanned = 0;
    let scanHeader = Buffer.alloc(0);
    let scanRemaining = 0;
    const scan = (data: Buffer) => {
      for (let at = 0; at < data.length && cutInside() !== undefined; ) {
        if (scanRemaining > 0) {
          const take = Math.min(scanRemaining, data.length - at);
          scanRemaining -= take;
          at += take;
          continue;
        }
        const need = 5 - scanHeader.length;
        scanHeader = Buffer.concat([scanHeader, data.subarray(at, at + need)]);
        at += Math.min(need, data.length - at);
        if (scanHeader.length < 5) break;
        scanRemaining = scanHeader.readUInt32BE(0) - 1;
        if (scanHeader[4] === cutInside() && cutAfter === Number.MAX_SAFE_INTEGER) cutAfter = scanned + at + Math.floor(scanRemaining / 2);
        scanHeader = Buffer.alloc(0);
      }
      scanned += data.length;
    };
    const attempt: Attempt = { bytesUp: 0, chunkFrames: 0, types: new Set(), cut: false };
    this.attempts.push(attempt);
    const upstream = net.connect(upstreamPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      s.on("error", () => undefined);
    }
    // frame parser state: bytes still to skip in the current frame, and a partial header
    let header = Buffer.alloc(0);
    let remaining = 0;
    let type = 0;
    const count = (data: Buffer) => {
      let at = 0;
      while (at < data.length) {
        if (remaining === 0) {
          const need = 5 - header.length;
          header = Buffer.concat([header, data.subarray(at, at + need)]);
          at += Math.min(need, data.length - at);
          if (header.length < 5) return;
          remaining = header.readUInt32BE(0) - 1;
          type = header[4]!;
          attempt.types.add(type);
          header = Buffer.alloc(0);
          if (remaining === 0 && isChunkFrame(type)) attempt.chunkFrames++;
          continue;
        }
        const take = Math.min(remaining, data.length - at);
        remaining -= take;
        at += take;
        if (remaining === 0 && isChunkFrame(type)) attempt.chunkFrames++;
      }
    };
    client.on("data", (data: Buffer) => {
      if (attempt.cut) return;
      scan(data);
      const room = cutAfter - attempt.bytesUp;
      const pass = data.length <= room ? data : data.subarray(0, room);
      attempt.bytesUp += pass.length;
      count(pass);
      upstream.write(pass);
      if (data.length > room) {
        attempt.cut = true;
        onCut();
        upstream.end(); // the server reads what it got, then the end
        client.destroy(); // the client sees the connection die
      }
    });
    client.on("end", () => upstream.end());
    client.on("close", () => {
      if (!attempt.cut) upstream.end();
    });
    upstream.on("data", (data: Buffer) => {
      if (!attempt.cut && !client.destroyed) client.write(data);
    });
    upstream.on("close", () => client.destroy());
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** ~12 MiB: incompressible files and text, so the transfer has both kinds of chunks. */
function makeSource(dir: string): string {
  const src = path.join(dir, "data");
  fs.mkdirSync(path.join(src, "logs"), { recursive: true });
  for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(src, `blob-${i}.bin`), randomBytes(2 * 1024 * 1024));
  for (let i = 0; i < 4; i++) {
    const lines: string[] = [];
    for (let n = 0, size = 0; size < 1024 * 1024; n++) {
      lines.push(
        `2026-11-26T10:${String(n % 60).padStart(2, "0")}:00Z host${i} request ${(n * 7919) % 100003} took ${(n * 31) % 997} ms path=/api/v1/items/${n}\n`,
      );
      size += lines.at(-1)!.length;
    }
    fs.writeFileSync(path.join(src, "logs", `app-${i}.log`), lines.join(""));
  }
  return src;
}

function sha256(file: string): string {
  return new Bun.CryptoHasher("sha256").update(fs.readFileSync(file)).digest("hex");
}

const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe("resume after a cut connection", () => {
  test("cut 10 times over a ~12 MiB transfer: each tick resumes, no chunk reaches the server twice, the archive equals an uninterrupted run's", async () => {
    const CUTS = 10;
    const dir = tempDir("resume");
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const source = makeSource(dir);

    // the reference: an uninterrupted run through a proxy that never cuts, to a fresh server
    const reference = await makeWorld([source]);
    cleanup.push(() => fs.rmSync(reference.dir, { recursive: true, force: true }));
    const refServer = await startServer(reference);
    cleanup.push(async () => void (await refServer.stop()));
    const refProxy = await CuttingProxy.start(reference.port, []);
    cleanup.push(() => refProxy.stop());
    writeClientConfig(reference, [source], { port: refProxy.port });
    const uninterrupted = await tick(reference.clientConfig);
    expect(uninterrupted.status).toBe(0);
    const ref = uninterrupted.report.results[0]!;
    expect(ref.status).toBe("sent");
    expect(ref.chunksSent).toBe(ref.chunksTotal);
    const total = refProxy.attempts[0]!.bytesUp;
    expect(refProxy.attempts[0]!.chunkFrames).toBe(ref.chunksSent);
    const refArchive = sha256(path.join(reference.storage, "web01", ref.archive!));

    // the interrupted transfer: a fresh server, and a proxy that cuts connection j after N[j] bytes, for 10
    // values of N around a twelfth of the transfer, so the 10 cuts land at points spread over all of it
    const world = await makeWorld([source]);
    cleanup.push(() => fs.rmSync(world.dir, { recursive: true, force: true }));
    const server: ServerProcess = await startServer(world);
    cleanup.push(async () => void (await server.stop()));
    const cutPoints = Array.from({ length: CUTS }, (_, j) => Math.round((total / 12) * (0.5 + ((j * 7) % CUTS) / 9)));
    const proxy = await CuttingProxy.start(world.port, cutPoints);
    cleanup.push(() => proxy.stop());
    writeClientConfig(world, [source], { port: proxy.port });
    const ticks: Tick[] = [];
    for (;;) {
      const t = await tick(world.clientConfig);
      ticks.push(t);
      // "unchanged" when a cut fell after the server stored the archive, before its receipt came back
      if (t.status === 0 && ["sent", "unchanged"].includes(t.report.results[0]?.status ?? "")) break;
      if (ticks.length > CUTS + 5)
        throw new Error(`no tick succeeded after ${ticks.length} attempts:\n${JSON.stringify(ticks.map((x) => x.report))}`);
    }
    const results = ticks.map((t) => t.report.results[0]!);
    const last = results.at(-1)!;
    const cuts = proxy.attempts.filter((a) => a.cut);
    const story = JSON.stringify({
      connections: proxy.attempts.map((a) => [a.cut ? `cut at ${a.bytesUp}` : `whole ${a.bytesUp}`, a.chunkFrames]),
      ticks: ticks.map((t) => [t.report.results[0]?.status, t.report.results[0]?.chunksSent, t.ms]),
    });
    // every cut hit a transfer (a connection carrying chunks), and the transfer went on after each
    expect({ story, cuts: cuts.length, carried: cuts.every((a) => a.chunkFrames > 0) }).toEqual({ story, cuts: CUTS, carried: true });
    // no chunk reached the server twice and none is missing: the whole chunk frames it received add up to one transfer
    const delivered = proxy.attempts.reduce((sum, a) => sum + a.chunkFrames, 0);
    expect({ story, delivered }).toEqual({ story, delivered: ref.chunksSent });
    // the client counts a chunk once its socket took it, so its sum exceeds that by what was in flight at each
    // cut (in socket buffers, never more than the page being sent): at most one page window a cut
    const sent = results.reduce((sum, r) => sum + r.chunksSent, 0);
    const bytes = results.reduce((sum, r) => sum + r.bytesSent, 0);
    expect(sent).toBeGreaterThanOrEqual(ref.chunksSent);
    expect(bytes).toBeLessThanOrEqual(ref.bytesSent + CUTS * PAGE_WINDOW_BYTES);
    // the stored archive is byte for byte the one the uninterrupted run stored, and the staging went with it
    expect(fs.readdirSync(path.join(world.storage, "web01"))).toEqual([last.archive!]);
    expect(sha256(path.join(world.storage, "web01", last.archive!))).toBe(refArchive);
    expect(fs.readdirSync(path.join(world.storage, ".hashrelay", "staging", "web01"))).toEqual([]);
    console.log(
      `resume: ${ticks.length} ticks (uninterrupted: ${uninterrupted.ms} ms), ${CUTS} cuts; ${delivered} chunk frames reached the server (uninterrupted: ${ref.chunksSent}); the client counted ${sent} chunks, ${bytes} bytes (uninterrupted: ${ref.bytesSent})`,
    );
  }, 60_000);

  test("a cut in the middle of a delta batch: the next tick resumes and stores the archive an uncut run stores", async () => {
    const dir = tempDir("delta-cut");
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const source = makeSource(dir);
    const edit = () => {
      for (let i = 0; i < 4; i++) {
        const log = path.join(source, "logs", `app-${i}.log`);
        const lines = fs.readFileSync(log, "utf8").split("\n");
        for (let k = 1; k <= 6; k++) lines.splice(Math.floor((lines.length * k) / 7), 0, `edited line ${k} of log ${i}`);
        fs.writeFileSync(log, lines.join("\n"));
      }
    };
    // the same first backup and the same edit in two worlds: one uncut, one cut inside its first delta batch
    // (protocol 3 sends a page's consecutive deltas as one DELTA_BATCH)
    const worlds = [];
    for (const cutInside of [undefined, SEALED_DELTA_BATCH]) {
      const world = await makeWorld([source]);
      cleanup.push(() => fs.rmSync(world.dir, { recursive: true, force: true }));
      const server = await startServer(world);
      cleanup.push(async () => void (await server.stop()));
      expect((await tick(world.clientConfig)).status).toBe(0);
      const proxy = await CuttingProxy.start(world.port, [], cutInside);
      cleanup.push(() => proxy.stop());
      writeClientConfig(world, [source], { port: proxy.port });
      worlds.push({ world, proxy });
    }
    edit();
    const runs: { archive: string; proxy: CuttingProxy; ticks: Tick[] }[] = [];
    for (const { world, proxy } of worlds) {
      const ticks: Tick[] = [];
      while (ticks.length < 3) {
        ticks.push(await tick(world.clientConfig));
        if (ticks.at(-1)!.status === 0) break;
      }
      const last = ticks.at(-1)!.report.results[0]!;
      expect({ last, cuts: proxy.attempts.map((a) => a.cut) }).toMatchObject({ last: { status: "sent" } });
      runs.push({ archive: path.join(world.storage, "web01", last.archive!), proxy, ticks });
    }
    const [uncut, cut] = runs;
    expect(uncut!.proxy.attempts.some((a) => a.cut)).toBe(false);
    expect(cut!.proxy.attempts.filter((a) => a.cut)).toHaveLength(1);
    // protocol 3: the cut tick and the one that resumed asked for sub-block hashes before their deltas
    expect(cut!.proxy.attempts.filter((a) => a.types.has(SEALED_HASH_REQUEST)).length).toBeGreaterThanOrEqual(2);
    expect(cut!.ticks.length).toBe(2);
    expect(cut!.ticks[0]!.status).not.toBe(0);
    expect(sha256(cut!.archive)).toBe(sha256(uncut!.archive));
  }, 90_000);

  test("server stopped, .hashrelay deleted, restarted: the next tick after a small change sends only the change", async () => {
    const dir = tempDir("reindex");
    cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const source = path.join(dir, "site");
    fs.mkdirSync(source);
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(source, `part-${i}.bin`), randomBytes(512 * 1024));
    fs.writeFileSync(path.join(source, "notes.txt"), "first version\n".repeat(1000));
    const world = await makeWorld([source]);
    cleanup.push(() => fs.rmSync(world.dir, { recursive: true, force: true }));
    let server = await startServer(world);
    const first = await tick(world.clientConfig);
    expect(first.status).toBe(0);
    const full = first.report.results[0]!;
    expect(full.status).toBe("sent");
    expect(full.chunksSent).toBeGreaterThan(20);

    await server.stop();
    fs.rmSync(path.join(world.storage, ".hashrelay"), { recursive: true });
    server = await startServer(world);
    cleanup.push(async () => void (await server.stop()));
    fs.appendFileSync(path.join(source, "notes.txt"), "one more line\n");
    const second = await tick(world.clientConfig);
    expect(second.status).toBe(0);
    const changed = second.report.results[0]!;
    expect(changed.status).toBe("sent");
    expect(changed.chunksTotal).toBe(full.chunksTotal);
    expect(changed.chunksSent).toBeLessThanOrEqual(2);
    expect(changed.bytesSent).toBeLessThan(full.bytesSent / 20);
    expect(fs.existsSync(path.join(world.storage, ".hashrelay", "index.sqlite"))).toBe(true);
    expect(fs.readdirSync(path.join(world.storage, "web01"))).toEqual([changed.archive!]);
  }, 60_000);
});
