// `hashrelay server --config FILE`: serve until SIGTERM; the config is live (file watch and SIGHUP reload it).
import { HashRelayError } from "../errors.ts";
import type { Config } from "../config/parse-config.ts";
import { serverRecordPath } from "../daemon/config-record.ts";
import { ServerDaemon } from "../server/daemon.ts";
import { ServerService, serverLogFile } from "../server/service.ts";
import { createLogger, parseLogFormat } from "../io/log.ts";
import { createNotifier } from "../io/sd-notify.ts";
import { configPath, parseArgs } from "./args.ts";
import { startLiveConfig } from "../daemon/live-config.ts";
import { readConfig } from "../io/config-file.ts";
import { serverVerify } from "./server-verify.ts";
import { serverAudit } from "./server-audit.ts";

/** <storage>/.hashrelay/hashrelay-server.log when the file names a storage; an unreadable or invalid file is reported by the first reload. */
function logFileOf(file: string): string | undefined {
  try {
    const read = readConfig(file);
    return read.ok && read.config.server ? serverLogFile(read.config.server.storage) : undefined;
  } catch {
    return undefined;
  }
}

export async function server(argv: string[]): Promise<number> {
  if (argv[0] === "verify") return serverVerify(argv.slice(1));
  if (argv[0] === "audit") return serverAudit(argv.slice(1));
  const args = parseArgs(argv, { values: ["--config", "--log-format"] }, "server");
  const format = parseLogFormat(args.values.get("--log-format"));
  const file = configPath(args);
  const log = createLogger(logFileOf(file), { role: "server" }, { format });
  const service = new ServerService(log, createNotifier());
  const running = new ServerDaemon(log, service.events);
  // Start-up is the first reload, from nothing (src/daemon/reload.ts).
  const live = await startLiveConfig(file, {
    parts: [running.part, service.part],
    log: () => log,
    recordPath: (inForce) => (inForce.server ? serverRecordPath(inForce.server.storage) : null),
  });
  try {
    await service.start(running);
  } catch (err) {
    live.close();
    await running.close();
    throw err;
  }
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  log.log("info", "stopping");
  live.close();
  await service.stop();
  await running.close();
  return 0;
}
