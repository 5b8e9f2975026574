// End to end: strangers flooding the server's port (silent, slow, or with HELLOs they cannot finish) lock no listed client out.
//
// Each case runs a flood from its own process (src/testing/stranger-flood.ts) while a listed client runs 10
// ticks of a small source, one after the other; every tick must back up. Cost: 10-50 s a case on 2 cores
// (about 2 min in all at load 20 from other work; less when idle).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  keygen,
  makeWorld,
  ROOT,
  runClientOnce,
  startServer,
  tempDir,
  writeServerConfig,
  type ServerProcess,
  type World,
} from "../testing/e2e-harness.ts";
import { childOutput } from "../testing/child-output.ts";

const FLOOD = path.join(ROOT, "src", "testing", "stranger-flood.ts");
const TICKS = 10;

/** Starts the flood with `args`; resolves once its first connections are open. `stop` ends it and gives its tally. */
async function startFlood(port: number, args: string[]): Promise<{ stop: () => Promise<Record<string, number>> }> {
  const child = spawn(process.execPath, [FLOOD, "--port", String(port), "--seconds", "90", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const out = childOutput(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await out.printed("flooding", 15_000);
  return {
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
      return JSON.parse(
        out
          .text()
          .split("\n")
          .find((l) => l.startsWith("{"))!,
      ) as Record<string, number>;
    },
  };
}

describe("strangers flooding the port", () => {
  let world: World;
  let server: ServerProcess;
  let source: string;

  /** TICKS ticks of the listed client, each after a change: how many backed it up. */
  const ticks = (): number => {
    let backedUp = 0;
    for (let i = 0; i < TICKS; i++) {
      fs.appendFileSync(path.join(source, "log.txt"), `tick ${i} ${Date.now()}\n`);
      const { status, report } = runClientOnce(world);
      if (status === 0 && report.results[0]?.status === "sent") backedUp++;
    }
    return backedUp;
  };

  beforeAll(async () => {
    source = tempDir("flood-src");
    fs.writeFileSync(path.join(source, "log.txt"), "start\n");
    world = await makeWorld([source]);
    // A second listed client whose public key a stranger claims.
    const otherPub = keygen(path.join(world.dir, "other.key"));
    fs.writeFileSync(path.join(world.dir, "other.pub"), `${otherPub}\n`);
    writeServerConfig(world, [
      { name: "web01", key: world.clientPub },
      { name: "web02", key: otherPub },
    ]);
    // Bounded: a tick that gets no turn within a minute fails instead of waiting for the next tick.
    fs.appendFileSync(world.clientConfig, "  busyWindow: 60s\n");
    keygen(path.join(world.dir, "stranger.key"));
    server = await startServer(world);
  });

  afterAll(async () => {
    expect(server.child.exitCode).toBeNull();
    await server?.stop();
  });

  test("2,000 silent connections a second: 10 of 10 ticks back up", async () => {
    const flood = await startFlood(world.port, ["--mode", "connect", "--rate", "2000"]);
    const backedUp = ticks();
    const tally = await flood.stop();
    expect(backedUp).toBe(TICKS);
    expect(tally.opened).toBeGreaterThan(5_000);
  }, 180_000);

  test("300 slow strangers, reopened as they are cut: 10 of 10 ticks back up", async () => {
    const flood = await startFlood(world.port, ["--mode", "slow", "--count", "300"]);
    const backedUp = ticks();
    await flood.stop();
    expect(backedUp).toBe(TICKS);
  }, 180_000);

  test("300 strangers sending HELLOs of their own key, reopened: 10 of 10; not one got the server's HELLO (no key agreement, no signature)", async () => {
    const flood = await startFlood(world.port, ["--mode", "hello", "--count", "300", "--key", path.join(world.dir, "stranger.key")]);
    const backedUp = ticks();
    const tally = await flood.stop();
    expect(backedUp).toBe(TICKS);
    expect(tally.answered).toBeGreaterThan(1_000);
    expect(tally.admitted).toBe(0);
  }, 180_000);

  test("300 strangers claiming another listed client's key, starting over after each answer: 10 of 10; the costly answers stay within that key's budget", async () => {
    const flood = await startFlood(world.port, [
      "--mode",
      "hello",
      "--count",
      "300",
      "--after-hello",
      "close",
      "--key",
      path.join(world.dir, "other.pub"),
    ]);
    const backedUp = ticks();
    const tally = await flood.stop();
    expect(backedUp).toBe(TICKS);
    expect(tally.answered).toBeGreaterThan(1_000);
    // The key's budget at one address: a burst of 20, then 2 a second.
    expect(tally.admitted!).toBeLessThanOrEqual(20 + 2 * Math.ceil(tally.seconds!) + 2);
  }, 180_000);

  test("the log stayed short: refusals are summed per address, not a line each", () => {
    const lines = server.log().split("\n");
    const refusalLines = lines.filter((l) => l.includes("refused"));
    expect(refusalLines.length).toBeLessThan(40);
    expect(lines.some((l) => /refused: evicted: /.test(l))).toBe(true);
    expect(lines.some((l) => /refused: unauthorized: unknown client key/.test(l))).toBe(true);
  });
});
