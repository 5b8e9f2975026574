// restic backup to a local repository (restic has no network path here): bytes = the repository's growth on disk.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { directoryBytes, runTimed } from "../processes.ts";
import { checkExit, restoreMeasure, type BenchTool, type RunMeasure, type ToolSetup } from "./tool.ts";

export async function resticTool(setup: ToolSetup): Promise<BenchTool> {
  const { work, tree } = setup;
  const repo = path.join(work, "repo");
  const cache = path.join(work, "cache");
  fs.mkdirSync(cache, { recursive: true });
  const env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: "hashrelay-bench", RESTIC_CACHE_DIR: cache };
  const init = spawnSync("restic", ["init"], { encoding: "utf8", env: { ...process.env, ...env } });
  if (init.status !== 0) throw new Error(`restic init failed: ${init.stderr}`);
  const config = spawnSync("restic", ["cat", "config"], { encoding: "utf8", env: { ...process.env, ...env } });
  const repoVersion = config.status === 0 ? (JSON.parse(config.stdout) as { version: number }).version : "?";
  return {
    name: "restic",
    describe: `\`restic backup --host bench TREE\` to a local repository (format version ${repoVersion}, default compression), cache in the tool's folder; no server process`,
    stateDirs: [repo, cache],
    async run(): Promise<RunMeasure> {
      const before = directoryBytes(repo);
      const client = await runTimed(["restic", "backup", "--host", "bench", "--quiet", tree], path.join(work, "client.rss"), { env });
      checkExit("restic backup", client);
      const after = directoryBytes(repo);
      return {
        bytesClientToServer: after - before,
        bytesServerToClient: null,
        bytesMethod: "repository growth",
        wallMs: client.wallMs,
        clientRssKiB: client.maxRssKiB,
        serverRssKiB: null,
        notes: { repositoryBytes: after },
      };
    },
    async restore(into: string): Promise<RunMeasure> {
      const client = await runTimed(
        ["restic", "restore", "latest", "--host", "bench", "--quiet", "--target", into],
        path.join(work, "client.rss"),
        {
          env,
        },
      );
      checkExit("restic restore", client);
      return restoreMeasure(client, null, { restore: "`restic restore latest` from the local repository" });
    },
    close: async () => {},
  };
}
