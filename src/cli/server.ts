// `hashrelay server --config FILE`: serve until SIGTERM; the config is live (file watch and SIGHUP reload it).
import { HashRelayError } from "../errors.ts";
import type { Config } from "../config/parse-config.ts";
import { serverRecordPath } from "../agent/config-record.ts";
import { ServerDaemon } from "../agent/server-daemon.ts";
import { createLogger } from "../io/log.ts";
import { configPath, parseArgs } from "./args.ts";
import { startLiveConfig } from "./live-config.ts";
import { serverVerify } from "./server-verify.ts";

export function requireServer(config: Config): Config & { server: NonNullable<Config["server"]> } {
  if (!config.server) throw new HashRelayError("CONFIG", `${config.file}: no server section`, "add a server: section (see hashrelay.example.yaml)");
  return config as Config & { server: NonNullable<Config["server"]> };
}

export async function server(argv: string[]): Promise<number> {
  if (argv[0] === "verify") return serverVerify(argv.slice(1));
  const args = parseArgs(argv, { values: ["--config"] }, "server");
  const file = configPath(args);
  const log = createLogger(undefined, { role: "server" });
  const running = new ServerDaemon(log);
  // Start-up is the first reload, from nothing (src/agent/reload.ts).
  const live = await startLiveConfig(file, {
    parts: [running.part],
    log: () => log,
    recordPath: (inForce) => (inForce.server ? serverRecordPath(inForce.server.storage) : null),
  });
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  log.log("info", "stopping");
  live.close();
  await running.close();
  return 0;
}
