// tar czf + copy: the archive streamed through the proxy into a sink that writes it to a file (the "server").
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { startCountingProxy } from "../counting-proxy.ts";
import { runTimed, spawnTimed } from "../processes.ts";
import { fmtBytes } from "../report.ts";
import { checkExit, restoreMeasure, type BenchTool, type RunMeasure, type ToolSetup } from "./tool.ts";

export async function tarTool(setup: ToolSetup): Promise<BenchTool> {
  const { work, tree } = setup;
  const dest = path.join(work, "dest");
  fs.mkdirSync(dest, { recursive: true });
  const archive = path.join(dest, "tree.tar.gz");
  let received: ((bytes: number) => void) | null = null;
  const sink = net.createServer((socket) => {
    const out = fs.createWriteStream(archive);
    socket.pipe(out);
    out.on("finish", () => received?.(fs.statSync(archive).size));
  });
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
  const proxy = await startCountingProxy((sink.address() as net.AddressInfo).port, { link: setup.link });
  return {
    name: "tar",
    describe: "`tar -czf - TREE` (gzip -6) streamed through the proxy into a sink that writes the file: every run sends the whole archive",
    stateDirs: [],
    async run(): Promise<RunMeasure> {
      proxy.reset();
      const started = performance.now();
      const stored = new Promise<number>((resolve) => (received = resolve));
      const tar = spawnTimed(["tar", "-czf", "-", "-C", path.dirname(tree), path.basename(tree)], path.join(work, "client.rss"), {
        pipeStdout: true,
      });
      const socket = net.connect(proxy.port, "127.0.0.1");
      socket.on("error", (err) => tar.child.kill() && console.error(`tar copy: ${err.message}`));
      tar.child.stdout!.pipe(socket);
      const run = await tar.done;
      checkExit("tar czf", run);
      const archiveBytes = await stored;
      const wallMs = performance.now() - started;
      await proxy.settle();
      const counts = proxy.read();
      return {
        bytesClientToServer: counts.clientToServer,
        bytesServerToClient: counts.serverToClient,
        bytesMethod: "proxy",
        wallMs,
        clientRssKiB: run.maxRssKiB,
        serverRssKiB: null,
        notes: { archiveBytes },
      };
    },
    async restore(into: string, stored: string | null): Promise<RunMeasure> {
      const source = stored ?? archive;
      const run = await runTimed(["tar", "-xzf", source, "-C", into], path.join(work, "client.rss"));
      checkExit("tar -xzf", run);
      const what = stored ? "hashrelay's stored archive" : "its own `tar czf` archive";
      return restoreMeasure(run, null, { restore: `\`tar -xzf\` of ${what} (${fmtBytes(fs.statSync(source).size)}), local` });
    },
    close: async () => {
      await proxy.close();
      await new Promise<void>((resolve) => sink.close(() => resolve()));
    },
  };
}
