// One tick of C, D or E at will, with a frame trace (issue18-fixed, not part of the bench):
//   bun lanes.ts setup WORK SCALE             three lanes (C, D, E), each: tree, first backup, mutation, snapshot
//   bun lanes.ts run WORK LANE BINARY wan|loop [trace]   one tick from the lane's snapshot
//   bun lanes.ts setup-real WORK SCALE BINARY lane RC: the real-files tree (build/bench/corpus/real), first backup, C mutation
//   bun lanes.ts ab WORK ROUNDS BEFORE AFTER  alternating ticks of C, D, E, loop and wan, medians (LANES=RC MODES=loop to choose)
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { FrameType } from "../../../../src/protocol/constants.ts";
import { keygen } from "../../../../src/testing/e2e-harness.ts";
import { mutateSmallFiles, overwriteImageBlocks, planDataset, writeDataset } from "../../dataset.ts";
import { mutateRealFiles, planReal, writeRealTree } from "../../real-data.ts";
import { openCorpus } from "../../real-corpus.ts";
import { freePort } from "../../counting-proxy.ts";
import { WAN } from "../../link-shaper.ts";
import { copyTree } from "../../processes.ts";

const NAMES = new Map<number, string>(Object.entries(FrameType).map(([n, t]) => [t, n.replace(/^SEALED_/, "")]));
const [cmd, work, ...rest] = process.argv.slice(2);

/** Frame names found in a chunk of one direction's stream (headers only, tracked across chunks). */
function frameReader() {
  let header = Buffer.alloc(0);
  let bodyLeft = 0;
  return (d: Buffer): string[] => {
    const names: string[] = [];
    let at = 0;
    while (at < d.length) {
      if (bodyLeft > 0) {
        const take = Math.min(bodyLeft, d.length - at);
        bodyLeft -= take;
        at += take;
        continue;
      }
      header = Buffer.concat([header, d.subarray(at, at + 1)]);
      at++;
      if (header.length < 5) continue;
      const len = header.readUInt32BE(0);
      names.push(`${NAMES.get(header[4]!) ?? header[4]}(${len})`);
      bodyLeft = len - 1;
      header = Buffer.alloc(0);
    }
    return names;
  };
}

interface Ev {
  t: number;
  dir: string;
  what: string;
  bytes: number;
  frames: string[];
}

/** A proxy with an optional WAN shape that logs each chunk's arrival at the proxy and delivery past it. */
async function tracedProxy(target: number, wan: boolean, t0: () => number) {
  const events: Ev[] = [];
  let turns = 0;
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const up = net.connect({ port: target, host: "127.0.0.1", allowHalfOpen: true });
    // NAGLE=1: the proxy's own sockets as the bench's counting proxy leaves them (Nagle on)
    if (!process.env["NAGLE"]) {
      client.setNoDelay(true);
      up.setNoDelay(true);
    }
    let unanswered = false;
    const pipe = (from: net.Socket, to: net.Socket, dir: string) => {
      const read = frameReader();
      let last = 0;
      const q: { at: number; d: Buffer | null }[] = [];
      let timer: ReturnType<typeof setTimeout> | null = null;
      const deliver = () => {
        timer = null;
        while (q.length > 0 && q[0]!.at <= performance.now()) {
          const { d } = q.shift()!;
          if (d === null) return void to.end();
          to.write(d);
          events.push({ t: performance.now() - t0(), dir, what: "out", bytes: d.length, frames: [] });
        }
        if (q.length > 0) timer = setTimeout(deliver, Math.max(0, q[0]!.at - performance.now()));
      };
      from.on("data", (d: Buffer) => {
        events.push({ t: performance.now() - t0(), dir, what: "in", bytes: d.length, frames: read(d) });
        if (dir === "c2s") unanswered = true;
        else if (unanswered) turns++, (unanswered = false);
        if (!wan) return void to.write(d);
        const now = performance.now();
        last = Math.max(now, last) + (d.length * 8000) / WAN.bitsPerSecond;
        q.push({ at: last + WAN.delayMs, d });
        if (timer === null) timer = setTimeout(deliver, Math.max(0, q[0]!.at - now));
      });
      from.on("end", () => {
        if (!wan) return void to.end();
        q.push({ at: Math.max(performance.now(), last) + WAN.delayMs, d: null });
        if (timer === null) timer = setTimeout(deliver, Math.max(0, q[0]!.at - performance.now()));
      });
      from.on("error", () => to.destroy());
    };
    pipe(client, up, "c2s");
    pipe(up, client, "s2c");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    events,
    turns: () => turns,
    close: () => server.close(),
  };
}

function cpuOf(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10; // ms at 100 Hz
}

function configs(lane: string, serverPort: number, clientPort: number) {
  const serverPub = fs.readFileSync(path.join(lane, "server.pub"), "utf8").trim();
  const clientPub = fs.readFileSync(path.join(lane, "client.pub"), "utf8").trim();
  fs.writeFileSync(
    path.join(lane, "server.yaml"),
    `version: 1\nport: ${serverPort}\nserver:\n  listen: 127.0.0.1\n  key: ./server.key\n  storage: ./nas\n  scrub: off\n  retention:\n    keep: 1\n    trashFor: 48h\n  clients:\n    - name: bench\n      key: "${clientPub}"\n`,
  );
  fs.writeFileSync(
    path.join(lane, "client.yaml"),
    `version: 1\nport: ${serverPort}\nclient:\n  name: bench\n  server: 127.0.0.1:${clientPort}\n  serverKey: "${serverPub}"\n  key: ./client.key\n  schedule: "every 30m"\n  state: ./state\n  paths:\n    - path: ${JSON.stringify(path.join(lane, "tree"))}\n      name: tree\n`,
  );
}

/** One client tick of `lane` through the proxy: wall, client CPU (user+sys), server CPU during it, turns, the trace. */
async function tick(lane: string, binary: string, wan: boolean) {
  let start = performance.now();
  const serverPort = await freePort();
  const proxy = await tracedProxy(serverPort, wan, () => start);
  configs(lane, serverPort, proxy.port);
  const server = await startServerOn(lane, binary);
  const sCpu0 = cpuOf(server.pid!);
  start = performance.now();
  const r = await new Promise<{ wall: number; cpu: number; rss: number; out: string }>((resolve, reject) => {
    const c = spawn("/usr/bin/time", ["-f", "%U %S %M", binary, "client", "--once", "--json", "--config", path.join(lane, "client.yaml")], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, HASHRELAY_TRACE: process.env["HASHRELAY_TRACE"] ?? "" },
    });
    let out = "";
    let err = "";
    c.stdout!.on("data", (d: Buffer) => (out += d));
    c.stderr!.on("data", (d: Buffer) => (err += d));
    c.once("exit", (code) => {
      const wall = performance.now() - start;
      if (code !== 0) return reject(new Error(`${out}\n${err}`));
      const [u, s, m] = err.trim().split("\n").at(-1)!.split(" ").map(Number);
      resolve({ wall, cpu: ((u ?? 0) + (s ?? 0)) * 1000, rss: (m ?? 0) / 1024, out: err });
    });
  });
  await Bun.sleep(300);
  const sCpu = cpuOf(server.pid!) - sCpu0;
  server.kill("SIGTERM");
  await new Promise((r2) => server.once("exit", r2));
  proxy.close();
  return { ...r, serverCpu: sCpu, turns: proxy.turns(), events: proxy.events };
}

async function startServerOn(lane: string, binary: string) {
  const logFile = path.join(lane, "server.log");
  const log = fs.openSync(logFile, "w");
  const child = spawn(binary, ["server", "--config", path.join(lane, "server.yaml")], { stdio: ["ignore", log, log], cwd: lane });
  fs.closeSync(log);
  for (;;) {
    const text = fs.readFileSync(logFile, "utf8");
    if (text.includes("listening on")) break;
    if (child.exitCode !== null) throw new Error(text);
    await Bun.sleep(20);
  }
  return child;
}

function restore(lane: string) {
  for (const d of ["nas", "state"]) copyTree(path.join(lane, `${d}.snap`), path.join(lane, d));
}

async function setup(scale: number, binary: string) {
  for (const id of ["C", "D", "E"]) {
    const lane = path.join(work!, id);
    fs.rmSync(lane, { recursive: true, force: true });
    fs.mkdirSync(lane, { recursive: true });
    fs.writeFileSync(path.join(lane, "server.pub"), keygen(path.join(lane, "server.key")));
    fs.writeFileSync(path.join(lane, "client.pub"), keygen(path.join(lane, "client.key")));
    const plan = planDataset({ seed: 1, scale });
    writeDataset(path.join(lane, "tree"), plan);
    for (const d of ["nas", "state"]) fs.mkdirSync(path.join(lane, d));
    const a = await tick(lane, binary, false);
    console.log(`${id}: first backup ${a.wall.toFixed(0)} ms`);
    if (id === "C") mutateSmallFiles(path.join(lane, "tree"), plan);
    if (id === "D") overwriteImageBlocks(path.join(lane, "tree"), plan);
    if (id === "E") fs.appendFileSync(path.join(lane, "tree", plan.small[7]!.path), "one more line of text\n");
    for (const d of ["nas", "state"]) copyTree(path.join(lane, d), path.join(lane, `${d}.snap`));
  }
}

function printTrace(events: Ev[]) {
  for (const e of events)
    console.log(`${e.t.toFixed(1).padStart(8)} ${e.dir} ${e.what.padEnd(3)} ${String(e.bytes).padStart(7)} ${e.frames.join(" ")}`);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function setupReal(scale: number, binary: string) {
  const lane = path.join(work!, "RC");
  fs.rmSync(lane, { recursive: true, force: true });
  fs.mkdirSync(lane, { recursive: true });
  fs.writeFileSync(path.join(lane, "server.pub"), keygen(path.join(lane, "server.key")));
  fs.writeFileSync(path.join(lane, "client.pub"), keygen(path.join(lane, "client.key")));
  const corpus = openCorpus(path.resolve(import.meta.dir, "../../corpus/real"));
  const plan = planReal(corpus, { seed: 1, scale });
  writeRealTree(path.join(lane, "tree"), corpus, plan);
  for (const d of ["nas", "state"]) fs.mkdirSync(path.join(lane, d));
  const a = await tick(lane, binary, false);
  console.log(`RC: first backup ${a.wall.toFixed(0)} ms`);
  mutateRealFiles(path.join(lane, "tree"), corpus, plan);
  for (const d of ["nas", "state"]) copyTree(path.join(lane, d), path.join(lane, `${d}.snap`));
}
if (cmd === "setup-real") await setupReal(Number(rest[0] ?? "1"), rest[1]!);
if (cmd === "setup") await setup(Number(rest[0] ?? "0.25"), rest[1]!);
else if (cmd === "run") {
  const [id, binary, mode, trace] = rest;
  const lane = path.join(work!, id!);
  restore(lane);
  const r = await tick(lane, binary!, mode === "wan");
  console.log(
    `${id} ${mode}: wall ${r.wall.toFixed(0)} ms, client cpu ${r.cpu.toFixed(0)} ms, server cpu ${r.serverCpu} ms, turns ${r.turns}`,
  );
  if (trace) {
    const marks = [...r.out.matchAll(/^MARK ([\d.]+) (.*)$/gm)].map((m) => ({
      t: Number(m[1]),
      dir: "cli",
      what: "",
      bytes: 0,
      frames: [m[2]!],
    }));
    printTrace([...r.events.filter((e) => e.what === "in"), ...marks].sort((a, b) => a.t - b.t));
  }
} else if (cmd === "ab") {
  const [rounds, ...binaries] = rest;
  const res: Record<string, { wall: number[]; cpu: number[]; scpu: number[]; rss: number[]; turns: Set<number> }> = {};
  for (let i = 0; i < Number(rounds); i++)
    for (const mode of (process.env["MODES"] ?? "loop,wan").split(","))
      for (const id of (process.env["LANES"] ?? "C,D,E").split(","))
        for (const [j, b] of (i % 2 ? [...binaries].reverse() : binaries).entries()) {
          const label = `${id} ${mode} ${i % 2 ? binaries.length - 1 - j : j}`;
          restore(path.join(work!, id));
          const r = await tick(path.join(work!, id), b!, mode === "wan");
          const x = (res[label] ??= { wall: [], cpu: [], scpu: [], rss: [], turns: new Set() });
          x.wall.push(r.wall), x.cpu.push(r.cpu), x.scpu.push(r.serverCpu), x.rss.push(r.rss), x.turns.add(r.turns);
        }
  for (const [label, x] of Object.entries(res).sort())
    console.log(
      `${label}: wall ${median(x.wall).toFixed(0)} ms (${x.wall.map((w) => w.toFixed(0)).join(" ")}), client cpu ${median(x.cpu).toFixed(0)}, server cpu ${median(x.scpu).toFixed(0)}, rss ${median(x.rss).toFixed(1)} MiB (max ${Math.max(...x.rss).toFixed(1)}), turns ${[...x.turns].join("/")}`,
    );
}
process.exit(0);
