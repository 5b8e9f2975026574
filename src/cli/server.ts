// `hashrelay server --config FILE`: serve until SIGTERM; the config is live (file watch and SIGHUP reload it).
import fs from "node:fs";
import { HashRelayError } from "../errors.ts";
import type { Config } from "../config/parse-config.ts";
import { serverRecordPath, writeConfigRecord } from "../agent/config-record.ts";
import { ConfigReloader, startFailure } from "../agent/reload.ts";
import { ServerDaemon } from "../agent/server-daemon.ts";
import { watchConfigFile } from "../io/config-watch.ts";
import { createLogger } from "../io/log.ts";
import { configPath, parseArgs } from "./args.ts";
import { parseConfigText } from "./load-config.ts";

export function requireServer(config: Config): Config & { server: NonNullable<Config["server"]> } {
  if (!config.server) throw new HashRelayError("CONFIG", `${config.file}: no server section`, "add a server: section (see hashrelay.example.yaml)");
  return config as Config & { server: NonNullable<Config["server"]> };
}

export async function server(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config"] }, "server");
  const file = configPath(args);
  const log = createLogger(undefined, { role: "server" });
  const running = new ServerDaemon(log);
  // Start-up is the first reload, from nothing (src/agent/reload.ts).
  const reloader = new ConfigReloader({
    file,
    read: () => fs.readFileSync(file, "utf8"),
    parse: (text) => parseConfigText(text, file),
    parts: [running.part],
    log: () => log,
    onRecord: async (record, inForce) => {
      if (inForce?.server) await writeConfigRecord(serverRecordPath(inForce.server.storage), record);
    },
  });
  const started = await reloader.request("start");
  if (started.status !== "applied") throw startFailure(started);
  const watch = watchConfigFile(file, () => void reloader.request("file changed"));
  const onHangup = () => void reloader.request("SIGHUP", true);
  process.on("SIGHUP", onHangup);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  log.log("info", "stopping");
  watch.close();
  process.off("SIGHUP", onHangup);
  await running.close();
  return 0;
}
