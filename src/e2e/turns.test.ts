// Round trips of a tick on real sockets (PROTOCOL.md §10 "Round trips"): the compiled binary through the bench's counting proxy.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startCountingProxy, type CountingProxy } from "../../build/bench/counting-proxy.ts";
import {
  ensureBinary,
  makeWorld,
  startServer,
  writeClientConfig,
  writeNoiseFiles,
  type ClientReport,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";
import { noise } from "../testing/noise.ts";

/**
 * 200 ms each way: far longer than the client takes to build a page or seal a frame here, so what it sends
 * before an answer comes back goes in the same turn whatever the load; unpaced (the count, not the rate).
 */
const LINK = { delayMs: 200, bitsPerSecond: 10_000_000_000 };

describe("round trips of a tick (protocol version 5)", () => {
  let world: World;
  let server: ServerProcess;
  let proxy: CountingProxy;
  let data: string;

  /** One `client --once --json` through the proxy (spawned: the proxy lives in this process); its report and the turns counted. */
  async function tick(): Promise<{ report: ClientReport; turns: number; frames: Record<string, { frames: number }> }> {
    proxy.reset();
    const child = spawn(ensureBinary(), ["client", "--once", "--json", "--config", world.clientConfig], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const status = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    if (status !== 0) throw new Error(`client exited ${status}:\n${stdout}\n${stderr}`);
    await proxy.settle();
    const { turns, clientFrames } = proxy.read();
    return { report: JSON.parse(stdout) as ClientReport, turns, frames: clientFrames };
  }

  beforeAll(async () => {
    world = await makeWorld(["data"]);
    data = path.join(world.dir, "data");
    writeNoiseFiles(data, 5, 20, 4096, "small");
    server = await startServer(world);
    proxy = await startCountingProxy(world.port, { link: LINK });
    writeClientConfig(world, ["data"], { port: proxy.port });
  });

  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
    fs.rmSync(world.dir, { recursive: true, force: true });
  });

  test("a first backup of two pages: 5 turns, the probe's ping behind the AUTH, the pages' NEEDs sharing one, the closing ping behind commit", async () => {
    // 12 MiB of new bytes: two pages (a page goes out at 8 MiB of held chunks); no base, so no sub-block hashes
    fs.writeFileSync(path.join(data, "zz-new.bin"), noise(12 * 1024 * 1024, 77));
    const first = await tick();
    expect(first.report).toMatchObject({ server: "up", results: [{ status: "sent" }] });
    expect(first.report.results[0]!.bytesSent).toBeGreaterThan(12 * 1024 * 1024);
    expect(first.frames.MANIFEST?.frames).toBe(2);
    // HELLO → HELLO + AUTH; AUTH + ping → welcome + pong; offer → send-manifest; both pages → both NEEDs;
    // the chunks and commit + ping → receipt + pong (8 in version 4)
    expect(first.turns).toBe(5);
  }, 60_000);

  test("an unchanged source: 3 turns, the closing ping riding behind the claiming offer", async () => {
    const unchanged = await tick();
    expect(unchanged.report).toMatchObject({ server: "up", results: [{ status: "unchanged" }] });
    // HELLO → HELLO + AUTH; AUTH + ping → welcome + pong; offer + ping → have + pong (5 in version 4)
    expect(unchanged.turns).toBe(3);
  }, 60_000);

  test("a small edit described against the base: 5 turns, the page's HASH_REQUEST riding behind the page", async () => {
    const file = path.join(data, "small-3.bin");
    const bytes = fs.readFileSync(file);
    bytes.fill(0x41, 2000, 2100);
    fs.writeFileSync(file, bytes);
    const edit = await tick();
    expect(edit.report).toMatchObject({ server: "up", results: [{ status: "sent" }] });
    expect(edit.frames.HASH_REQUEST?.frames).toBe(1);
    expect(edit.report.results[0]!.bytesSent).toBeLessThan(4096);
    // HELLO; AUTH + ping; offer → send-manifest; page + HASH_REQUEST → NEED + SUB_HASHES; the delta and
    // commit + ping → receipt + pong (8 in version 4)
    expect(edit.turns).toBe(5);
  }, 60_000);
});
