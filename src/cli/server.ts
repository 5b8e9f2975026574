// `hashrelay server --config FILE`: serve until SIGTERM.
import { HashRelayError } from "../errors.ts";
import type { Config } from "../config/parse-config.ts";
import { startServer } from "../agent/server-daemon.ts";
import { loadKeyFile } from "../io/key-file.ts";
import { createLogger } from "../io/log.ts";
import { configPath, parseArgs } from "./args.ts";
import { loadConfig } from "./load-config.ts";

export function requireServer(config: Config): Config & { server: NonNullable<Config["server"]> } {
  if (!config.server) throw new HashRelayError("CONFIG", `${config.file}: no server section`, "add a server: section (see hashrelay.example.yaml)");
  return config as Config & { server: NonNullable<Config["server"]> };
}

export async function server(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config"] }, "server");
  const config = requireServer(loadConfig(configPath(args)));
  const log = createLogger(undefined, { role: "server" });
  const running = await startServer(config, loadKeyFile(config.server.key), log);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  log.log("info", "stopping");
  await running.close();
  return 0;
}
