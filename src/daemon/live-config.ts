// A daemon's config, live: the first reload at start-up, then a reload on each file change and on SIGHUP.
import fs from "node:fs";
import type { Config } from "../config/parse-config.ts";
import { writeConfigRecord } from "./config-record.ts";
import { ConfigReloader, startFailure, type ReloadPart } from "./reload.ts";
import { watchFile } from "../io/file-watch.ts";
import type { Logger } from "../io/log.ts";
import { parseConfigText } from "../io/config-file.ts";

export interface LiveConfig {
  reloader: ConfigReloader;
  /** Stops watching the file and listening for SIGHUP. */
  close(): void;
}

/**
 * Applies `file` through `parts` (start-up is the first reload: it throws startFailure when the file is
 * invalid or a part vetoes), then watches the file and reloads on change, and on SIGHUP (forced).
 * The record of the config in force is written to recordPath(config in force) after every reload.
 */
export async function startLiveConfig(
  file: string,
  opts: { parts: ReloadPart[]; log: () => Logger; recordPath: (inForce: Config) => string | null },
): Promise<LiveConfig> {
  const reloader = new ConfigReloader({
    file,
    read: () => fs.readFileSync(file, "utf8"),
    parse: (text) => parseConfigText(text, file),
    parts: opts.parts,
    log: opts.log,
    onRecord: async (record, inForce) => {
      const target = inForce ? opts.recordPath(inForce) : null;
      if (target) await writeConfigRecord(target, record);
    },
  });
  // Watch before the first reload: an edit made while the daemon starts (after it listens, before it would
  // otherwise watch) is queued behind the start and applied, not missed.
  const watch = watchFile(file, () => void reloader.request("file changed"));
  const started = await reloader.request("start");
  if (started.status !== "applied") {
    watch.close();
    throw startFailure(started);
  }
  const onHangup = () => void reloader.request("SIGHUP", true);
  process.on("SIGHUP", onHangup);
  return {
    reloader,
    close: () => {
      watch.close();
      process.off("SIGHUP", onHangup);
    },
  };
}
