// hashrelay under test: the compiled dist/hashrelay, a server with its own storage, the client reaching it through the proxy.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { makeLoopFs, usedBytes, type LoopFsType } from "../../../src/testing/loop-fs.ts";
import type { CephRgw } from "../../../src/testing/ceph-rgw.ts";
import { S3Client } from "../../../src/io/s3-client.ts";
import { freePort, startCountingProxy } from "../counting-proxy.ts";
import { frameTallyLine } from "../frame-tally.ts";
import { runTimed, startService } from "../processes.ts";
import { fmtBytes } from "../report.ts";
import { checkExit, restoreMeasure, type BenchTool, type RunMeasure, type StorageCost, type ToolSetup } from "./tool.ts";

interface ClientReport {
  server: string;
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

function keygen(binary: string, file: string): string {
  const r = spawnSync(binary, ["keygen", "--out", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`hashrelay keygen failed: ${r.stderr}`);
  return r.stdout.trim();
}

/** Where the server's storage lives: work/nas, or nas on a loop file system made for the run (removed by close()). */
function storagePlace(work: string, serverFs: ServerFs | undefined): { storage: string; remove: () => void } {
  if (!serverFs) return { storage: path.join(work, "nas"), remove: () => undefined };
  const loop = makeLoopFs(serverFs.type, serverFs.sizeMiB);
  if (!loop.mount) throw new Error(`--server-fs ${serverFs.type}: cannot make a loop file system here (${loop.missing})`);
  // Ctrl-C ends the bench with process.exit: unmount and delete then too.
  process.once("exit", loop.remove);
  console.log(`  hashrelay storage on ${serverFs.type} in a ${serverFs.sizeMiB} MiB loop file, mounted at ${loop.mount}`);
  const remove = () => {
    process.off("exit", loop.remove);
    loop.remove();
  };
  return { storage: path.join(loop.mount, "nas"), remove };
}

/** A loop file system of `type` and `sizeMiB` for the server's storage (the bench's --server-fs). */
export interface ServerFs {
  type: LoopFsType;
  sizeMiB: number;
}

/**
 * Keys, a server config (storage in work/nas, or on a loop file system of `serverFs`, whose cost each
 * run then measures) and a client config whose server address is the proxy.
 */
export async function hashrelayTool(setup: ToolSetup & { binary: string; serverFs?: ServerFs; rgw?: CephRgw }): Promise<BenchTool> {
  const { work, tree, binary, serverFs, rgw } = setup;
  fs.mkdirSync(work, { recursive: true });
  const { storage, remove } = storagePlace(work, serverFs);
  const serverPub = keygen(binary, path.join(work, "server.key"));
  const clientPub = keygen(binary, path.join(work, "client.key"));
  const serverPort = await freePort();
  const proxy = await startCountingProxy(serverPort, { link: setup.link });
  const serverConfig = path.join(work, "server.yaml");
  const clientConfig = path.join(work, "client.yaml");
  const state = path.join(work, "state");
  // The scrub off: its first step runs at each server start and reads the only archive whole,
  // beside the backup measured (a long-lived server spreads it over server.scrub, 30 days).
  fs.writeFileSync(
    serverConfig,
    `version: 1\nport: ${serverPort}\nserver:\n  listen: 127.0.0.1\n  key: ./server.key\n  ${rgw ? bucketKeys(work, rgw, storage) : `storage: ${JSON.stringify(storage)}`}\n  scrub: off\n  retention:\n    keep: 1\n    trashFor: 48h\n  clients:\n    - name: bench\n      key: "${clientPub}"\n`,
  );
  fs.writeFileSync(
    clientConfig,
    `version: 1\nport: ${serverPort}\nclient:\n  name: bench\n  server: 127.0.0.1:${proxy.port}\n  serverKey: "${serverPub}"\n  key: ./client.key\n  schedule: "every 30m"\n  state: ./state\n  paths:\n    - path: ${JSON.stringify(tree)}\n      name: tree\n`,
  );
  // scenario R's client reaches the server itself: restic and tar restore from local files, with no proxy to pass
  const restoreConfig = path.join(work, "client-restore.yaml");
  fs.writeFileSync(restoreConfig, fs.readFileSync(clientConfig, "utf8").replace(`127.0.0.1:${proxy.port}`, `127.0.0.1:${serverPort}`));
  fs.mkdirSync(storage, { recursive: true });
  fs.mkdirSync(state, { recursive: true });
  if (rgw) {
    const target = { endpoint: rgw.endpoint, region: rgw.region, bucket: "bench", pathStyle: true, credentials: rgw.credentials };
    await new S3Client({ ...target, timeoutMs: 30_000 }).createBucket();
  }
  const startServer = () =>
    startService([binary, "server", "--config", serverConfig], {
      rssFile: path.join(work, "server.rss"),
      logFile: path.join(work, "server.log"),
      readyText: "listening on",
    });
  return {
    name: "hashrelay",
    describe: `\`hashrelay server\` (fresh storage${serverFs ? ` on ${serverFs.type} in a loop file` : ""}${rgw ? " in a Ceph RGW bucket, the local folder its cache" : ""}, started before each run) and \`hashrelay client --once --json\`, the client's server address being the proxy`,
    stateDirs: [storage, state],
    async run(): Promise<RunMeasure> {
      const usedBefore = serverFs ? usedBytes(storage) : 0;
      const server = await startServer();
      let client;
      let io;
      try {
        const ioBefore = server.io();
        proxy.reset();
        client = await runTimed([binary, "client", "--once", "--json", "--config", clientConfig], path.join(work, "client.rss"));
        await proxy.settle();
        const ioAfter = server.io();
        io = { written: ioAfter.written - ioBefore.written, read: ioAfter.read - ioBefore.read };
      } catch (err) {
        await server.stop();
        throw err;
      }
      const counts = proxy.read();
      const stopped = await server.stop();
      const cost: StorageCost | undefined = serverFs && { fs: serverFs.type, ...io, growth: usedBytes(storage) - usedBefore };
      checkExit("hashrelay client", client);
      let report: ClientReport;
      try {
        report = JSON.parse(client.stdout) as ClientReport;
      } catch {
        throw new Error(`hashrelay client printed no JSON:\n${client.stdout}\n${client.stderr}`);
      }
      const result = report.results[0];
      if (!result || (result.status !== "sent" && result.status !== "unchanged")) {
        throw new Error(`hashrelay client reported ${JSON.stringify(report)}\n${client.stderr}\nserver log:\n${server.log().slice(-4000)}`);
      }
      const archive = path.join(storage, "bench", result.archive ?? "");
      return {
        bytesClientToServer: counts.clientToServer,
        bytesServerToClient: counts.serverToClient,
        bytesMethod: "proxy",
        wallMs: client.wallMs,
        clientRssKiB: client.maxRssKiB,
        serverRssKiB: stopped.maxRssKiB,
        ...(cost && { storage: cost }),
        notes: {
          status: result.status,
          connections: counts.connections,
          turns: counts.turns,
          frames: frameTallyLine(counts.clientFrames),
          "own report bytesSent": result.bytesSent,
          chunks: `${result.chunksSent}/${result.chunksTotal}`,
          archiveBytes: fs.existsSync(archive) ? fs.statSync(archive).size : -1,
          ...(rgw && bucketNotes(server.log())),
        },
      };
    },
    async restore(into: string): Promise<RunMeasure> {
      const server = await startServer();
      const argv = [binary, "restore", "tree", "--to", into, "--json", "--config", restoreConfig];
      const client = await runTimed(argv, path.join(work, "client.rss"));
      const stopped = await server.stop();
      checkExit("hashrelay restore", client);
      const report = JSON.parse(client.stdout) as { file: string };
      const archiveBytes = fs.statSync(path.join(storage, "bench", report.file)).size;
      const notes = { restore: `\`hashrelay restore\` of ${report.file} (${fmtBytes(archiveBytes)}), straight to the server` };
      return restoreMeasure(client, { clientToServer: 0, serverToClient: archiveBytes }, notes, stopped.maxRssKiB);
    },
    storedArchive(): string | null {
      const folder = path.join(storage, "bench");
      if (!fs.existsSync(folder)) return null;
      const archives = fs
        .readdirSync(folder)
        .filter((f) => /^backup-.*\.tar\.(gz|zst)$/.test(f))
        .map((f) => path.join(folder, f));
      return archives.sort((a, b) => fs.statSync(a).mtimeMs - fs.statSync(b).mtimeMs).at(-1) ?? null;
    },
    close: async () => {
      await proxy.close();
      remove();
    },
  };
}

/** server.storage in the bench's bucket, credentials in a 0600 file, `cache` the local folder (one config line's worth of YAML). */
function bucketKeys(work: string, rgw: CephRgw, cache: string): string {
  const credentials = path.join(work, "s3.credentials");
  const { accessKeyId, secretAccessKey } = rgw.credentials;
  fs.writeFileSync(credentials, `[default]\naws_access_key_id = ${accessKeyId}\naws_secret_access_key = ${secretAccessKey}\n`, {
    mode: 0o600,
  });
  const s3 = `{ endpoint: "${rgw.endpoint}", region: ${rgw.region}, credentials: ${JSON.stringify(credentials)} }`;
  return `storage: s3://bench/hashrelay\n  s3: ${s3}\n  cache: ${JSON.stringify(cache)}`;
}

/** Bytes the server sent the bucket and had it copy inside itself in this run: the sums of its archive.published lines. */
function bucketNotes(log: string): Record<string, number> {
  const published = log.split("\n").filter((line) => line.includes("archive.published"));
  const sum = (field: string) => published.reduce((t, line) => t + Number(new RegExp(`${field}=(\\d+)`).exec(line)?.[1] ?? 0), 0);
  return { "bucket uploaded": sum("bytesUploaded"), "bucket copied": sum("bytesCopied") };
}
