// `npm start`: a server and a client on 127.0.0.1 with fresh keys in a temporary folder; backs a sample tree up three times.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const root = path.resolve(import.meta.dir, "..");
const binary = path.join(root, "dist", "hashrelay");
if (!fs.existsSync(binary)) {
  console.error("dist/hashrelay is missing: run npm run build first");
  process.exit(1);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-demo-"));
const run = (args: string[]) => spawnSync(binary, args, { encoding: "utf8" });

function keygen(file: string): string {
  const result = run(["keygen", "--out", file]);
  if (result.status !== 0) throw new Error(result.stderr);
  return result.stdout.trim();
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function sampleTree(dir: string): void {
  fs.mkdirSync(path.join(dir, "site", "assets"), { recursive: true });
  fs.mkdirSync(path.join(dir, "site", "empty"), { recursive: true });
  for (let i = 0; i < 40; i++) {
    const lines = Array.from(
      { length: 200 },
      (_, j) => `page ${i} line ${j}: the quick brown fox jumps over the lazy dog ${(i * 7919 + j * 31) % 1000}`,
    );
    fs.writeFileSync(path.join(dir, "site", `page-${i}.html`), lines.join("\n"));
  }
  fs.writeFileSync(path.join(dir, "site", "assets", "video.bin"), randomBytes(3 * 1024 * 1024));
  fs.writeFileSync(path.join(dir, "site", "Café menu.txt"), "crêpes, galettes\n");
  fs.symlinkSync("page-0.html", path.join(dir, "site", "index.html"));
}

const serverPub = keygen(path.join(work, "server.key"));
const clientPub = keygen(path.join(work, "client.key"));
const port = await freePort();
sampleTree(path.join(work, "data"));

fs.writeFileSync(
  path.join(work, "server.yaml"),
  `version: 1\nport: ${port}\nserver:\n  listen: 127.0.0.1\n  key: ./server.key\n  storage: ./nas\n  retention:\n    keep: 1\n    trashFor: 48h\n  clients:\n    - name: demo-client\n      key: "${clientPub}"\n`,
);
fs.writeFileSync(
  path.join(work, "client.yaml"),
  `version: 1\nport: ${port}\nclient:\n  name: demo-client\n  server: 127.0.0.1\n  serverKey: "${serverPub}"\n  key: ./client.key\n  schedule: "every 30m"\n  state: ./state\n  paths:\n    - ./data/site\n`,
);

const server = spawn(binary, ["server", "--config", path.join(work, "server.yaml")], { stdio: ["ignore", "ignore", "pipe"] });
const serverLog = fs.createWriteStream(path.join(work, "server.log"));
server.stderr.pipe(serverLog);
await new Promise<void>((resolve, reject) => {
  let seen = "";
  server.stderr.on("data", (d: Buffer) => {
    seen += d.toString();
    if (seen.includes("listening on")) resolve();
  });
  server.once("exit", () => reject(new Error(`server exited:\n${seen}`)));
});

interface Result {
  name: string;
  archive: string;
  status: string;
  bytesSent: number;
  chunksTotal: number;
  chunksSent: number;
}
function tick(title: string): Result {
  const result = run(["client", "--once", "--json", "--config", path.join(work, "client.yaml")]);
  const report = JSON.parse(result.stdout) as { server: string; results: Result[] };
  const r = report.results[0]!;
  console.log(
    `${title}\n  server ${report.server}; ${r.name}: ${r.status}, ${r.bytesSent.toLocaleString("en")} bytes of archive payload sent (${r.chunksSent} of ${r.chunksTotal} chunks)`,
  );
  return r;
}

try {
  console.log(`HashRelay demo in ${work}\n`);
  const first = tick("1. First backup of data/site (40 text pages, a 3 MiB binary, a symlink, an empty folder):");
  tick("2. Same tree again: nothing travels but the proof:");
  fs.appendFileSync(path.join(work, "data", "site", "page-7.html"), "\none more line\n");
  const third = tick("3. One line added to one page: only the chunk that changed travels, as a delta against what the NAS holds:");
  const archive = path.join(work, "nas", "demo-client", third.archive);
  console.log(`\nThe archive on the "NAS": ${archive}`);
  console.log(`The one it replaced waits in trash for 48 h: ${path.join(work, "nas", ".trash", "demo-client", first.archive)}`);
  console.log(
    `Open it with plain tar, no HashRelay needed:\n  tar -tzvf '${archive}' | head\n  mkdir -p /tmp/restore && tar -xzf '${archive}' -C /tmp/restore`,
  );
  console.log(`\nClient receipts: ${path.join(work, "state", "receipts")}\nServer log: ${path.join(work, "server.log")}`);
} finally {
  server.kill("SIGTERM");
}
