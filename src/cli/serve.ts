// `hashrelay server`: start the daemon on the live config (file watch and SIGHUP reload it) and serve until SIGTERM.
import { serverRecordPath } from "../daemon/config-record.ts";
import { startLiveConfig } from "../daemon/live-config.ts";
import { ServerDaemon } from "../server/daemon.ts";
import { ServerService, serverLogFile } from "../server/service.ts";
import { readConfig } from "../io/config-file.ts";
import { createLogger, parseLogFormat } from "../io/log.ts";
import { createNotifier } from "../io/sd-notify.ts";

/** <storage>/.hashrelay/hashrelay-server.log when the file names a storage; an unreadable or invalid file is reported by the first reload. */
function logFileOf(file: string): string | undefined {
  try {
    const read = readConfig(file);
    return read.ok && read.config.server ? serverLogFile(read.config.server.storage) : undefined;
  } catch {
    return undefined;
  }
}

/** Serves until SIGTERM or SIGINT; exit 0. Throws USAGE on a bad --log-format, and what the first reload or the start throws. */
export async function serve(request: { configFile: string; logFormat: string | undefined }): Promise<number> {
  const format = parseLogFormat(request.logFormat);
  const file = request.configFile;
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
