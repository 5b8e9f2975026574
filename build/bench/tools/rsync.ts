// rsync -az --delete under test: a loopback rsync daemon (started before each run), the client pushing through the proxy.
import fs from "node:fs";
import path from "node:path";
import { freePort, startCountingProxy } from "../counting-proxy.ts";
import { runTimed, startService } from "../processes.ts";
import { checkExit, type BenchTool, type RunMeasure, type ToolSetup } from "./tool.ts";

export async function rsyncTool(setup: ToolSetup): Promise<BenchTool> {
  const { work, tree } = setup;
  const dest = path.join(work, "dest");
  fs.mkdirSync(dest, { recursive: true });
  const daemonPort = await freePort();
  const proxy = await startCountingProxy(daemonPort, { link: setup.link });
  const config = path.join(work, "rsyncd.conf");
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  fs.writeFileSync(
    config,
    [
      "# written by build/bench/tools/rsync.ts",
      "use chroot = no",
      "munge symlinks = no",
      "numeric ids = yes",
      `uid = ${uid}`,
      `gid = ${gid}`,
      "max connections = 4",
      "[bench]",
      `  path = ${dest}`,
      "  read only = no",
      "",
    ].join("\n"),
  );
  return {
    name: "rsync",
    describe: `\`rsync --daemon --no-detach\` on 127.0.0.1 (started before each run) and \`rsync -az --delete TREE/ rsync://127.0.0.1:PROXY/bench/\` (plus \`--debug=nstr\`, local output only, to record the compression -z negotiated)`,
    stateDirs: [dest],
    async run(): Promise<RunMeasure> {
      const daemonLog = path.join(work, "rsyncd.log");
      fs.rmSync(daemonLog, { force: true });
      const daemon = await startService(
        [
          "rsync",
          "--daemon",
          "--no-detach",
          `--config=${config}`,
          `--port=${daemonPort}`,
          "--address=127.0.0.1",
          `--log-file=${daemonLog}`,
        ],
        {
          rssFile: path.join(work, "daemon.rss"),
          logFile: path.join(work, "daemon.out"),
          readyFile: daemonLog,
          readyText: "listening on port",
        },
      );
      let client;
      try {
        proxy.reset();
        client = await runTimed(
          ["rsync", "-az", "--delete", "--debug=nstr", `${tree}/`, `rsync://127.0.0.1:${proxy.port}/bench/`],
          path.join(work, "client.rss"),
        );
        await proxy.settle();
      } catch (err) {
        await daemon.stop();
        throw err;
      }
      const counts = proxy.read();
      // The daemon reaps its per-connection children on SIGCHLD; give it a moment so GNU time counts them.
      await Bun.sleep(200);
      const stopped = await daemon.stop();
      checkExit("rsync", client);
      return {
        bytesClientToServer: counts.clientToServer,
        bytesServerToClient: counts.serverToClient,
        bytesMethod: "proxy",
        wallMs: client.wallMs,
        clientRssKiB: client.maxRssKiB,
        serverRssKiB: stopped.maxRssKiB,
        notes: {
          connections: counts.connections,
          turns: counts.turns,
          compress: /negotiated compress: (.*)/.exec(client.stdout)?.[1]?.trim() ?? "unknown",
        },
      };
    },
    close: () => proxy.close(),
  };
}
