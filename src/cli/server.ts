// `hashrelay server --config FILE`: serve until SIGTERM.
import { HashRelayError } from "../errors.ts";
import type { Config } from "../config/parse-config.ts";
import { startServer } from "../agent/server-daemon.ts";
import { loadKeyFile } from "../io/key-file.ts";
import { ServerService, serverLogFile } from "../agent/server-service.ts";
import { createLogger, parseLogFormat } from "../io/log.ts";
import { createNotifier } from "../io/sd-notify.ts";
import { configPath, parseArgs } from "./args.ts";
import { loadConfig } from "./load-config.ts";

export function requireServer(config: Config): Config & { server: NonNullable<Config["server"]> } {
  if (!config.server) throw new HashRelayError("CONFIG", `${config.file}: no server section`, "add a server: section (see hashrelay.example.yaml)");
  return config as Config & { server: NonNullable<Config["server"]> };
}

export async function server(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config", "--log-format"] }, "server");
  const format = parseLogFormat(args.values.get("--log-format"));
  const config = requireServer(loadConfig(configPath(args)));
  const log = createLogger(serverLogFile(config.server.storage), { role: "server" }, { format });
  const service = new ServerService(config, log, createNotifier());
  const running = await startServer(config, loadKeyFile(config.server.key), log, service.events);
  try {
    await service.start(running);
  } catch (err) {
    await running.close();
    throw err;
  }
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  log.log("info", "stopping");
  await service.stop();
  await running.close();
  return 0;
}
