// Alternating before/after walls of small ticks at 50 ms RTT (issue18-turns, not part of the bench):
// bun build/bench/results/issue18-turns/ab-ticks.ts BEFORE_BINARY AFTER_BINARY ROUNDS
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startCountingProxy } from "../../counting-proxy.ts";
import { WAN } from "../../link-shaper.ts";
import { freePort, keygen, writeNoiseFiles } from "../../../../src/testing/e2e-harness.ts";

const [before, after, rounds = "5"] = process.argv.slice(2);

async function setUp(binary: string, label: string) {
  const dir = fs.mkdtempSync(`/tmp/turns-ab/${label}-`);
  const port = await freePort();
  const serverPub = keygen(path.join(dir, "server.key"));
  const clientPub = keygen(path.join(dir, "client.key"));
  fs.writeFileSync(
    path.join(dir, "server.yaml"),
    `version: 1\nport: ${port}\nserver:\n  listen: 127.0.0.1\n  key: ./server.key\n  storage: ./nas\n  clients:\n    - name: web01\n      key: "${clientPub}"\n`,
  );
  const proxy = await startCountingProxy(port, { link: WAN });
  fs.writeFileSync(
    path.join(dir, "client.yaml"),
    `version: 1\nport: ${proxy.port}\nclient:\n  name: web01\n  server: 127.0.0.1\n  serverKey: "${serverPub}"\n  key: ./client.key\n  schedule: "every 30m"\n  state: ./state\n  paths:\n    - ./data\n`,
  );
  writeNoiseFiles(path.join(dir, "data"), 3, 200, 4096, "small");
  const server = spawn(binary, ["server", "--config", path.join(dir, "server.yaml")], { stdio: "ignore" });
  await Bun.sleep(1500); // a throwaway script: the server is up well within this
  const tick = () =>
    new Promise<{ ms: number; cpuMs: number; turns: number }>((resolve, reject) => {
      proxy.reset();
      const t0 = performance.now();
      const child = spawn(
        "/usr/bin/time",
        ["-f", "%U %S", binary, "client", "--once", "--json", "--config", path.join(dir, "client.yaml")],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let err = "";
      child.stderr!.on("data", (d: Buffer) => (err += d));
      child.once("exit", async (code) => {
        const ms = performance.now() - t0;
        if (code !== 0) return reject(new Error(err));
        const [u, s] = err.trim().split("\n").at(-1)!.split(" ").map(Number);
        await proxy.settle();
        resolve({ ms, cpuMs: ((u ?? 0) + (s ?? 0)) * 1000, turns: proxy.read().turns });
      });
    });
  const edit = () => fs.appendFileSync(path.join(dir, "data", "small-7.bin"), `line ${Date.now()}\n`);
  return { tick, edit, stop: () => (server.kill(), proxy.close()) };
}

const sides = { before: await setUp(before!, "before"), after: await setUp(after!, "after") };
for (const side of Object.values(sides)) await side.tick();
const results: Record<string, { unchanged: number[]; edit: number[]; cpu: number[]; turns: string[] }> = {};
for (let r = 0; r < Number(rounds); r++) {
  for (const [name, side] of r % 2 ? Object.entries(sides).reverse() : Object.entries(sides)) {
    const res = (results[name] ??= { unchanged: [], edit: [], cpu: [], turns: [] });
    const u = await side.tick();
    side.edit();
    await Bun.sleep(1100); // a new second: the archive's name
    const e = await side.tick();
    res.unchanged.push(u.ms);
    res.edit.push(e.ms);
    res.cpu.push(u.cpuMs + e.cpuMs);
    res.turns.push(`${u.turns}/${e.turns}`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, r] of Object.entries(results))
  console.log(
    `${name}: unchanged ${median(r.unchanged).toFixed(0)} ms, edit ${median(r.edit).toFixed(0)} ms, client CPU of both ${median(r.cpu).toFixed(0)} ms, turns ${[...new Set(r.turns)].join(" ")}`,
  );
for (const side of Object.values(sides)) await side.stop();
process.exit(0);
