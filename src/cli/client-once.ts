// `hashrelay client --once`: one tick now, its report on stdout, progress on stderr, its exit code.
import { runTick } from "../client/tick.ts";
import { withCapabilityHints } from "../client/capability-hint.ts";
import { createProgress } from "../client/progress.ts";
import { lockForTick } from "../client/tick-lock.ts";
import { loadConfig, requireClient } from "../io/config-file.ts";
import { parseLogFormat } from "../io/log.ts";
import { tickContext } from "../client/tick-context.ts";
import { printTickReport } from "./tick-report.ts";

/**
 * Exit 0 every source sent or unchanged; 1 a source failed; 3 server down; 4 refused (the tick's own exit code).
 * Waits first while another tick (the daemon's, another --once) runs on the same state folder.
 * Throws USAGE on a --log-format other than text or json (checked before the config is read), CONFIG.
 */
export async function runOnce(request: { configFile: string; logFormat: string | undefined; json: boolean }): Promise<number> {
  const format = parseLogFormat(request.logFormat);
  const config = requireClient(loadConfig(request.configFile));
  // Progress goes to stderr (bars on a terminal, two lines per source otherwise; none beside JSON logs off a terminal).
  const tty = process.stderr.isTTY === true;
  const progress =
    format === "json" && !tty
      ? undefined
      : createProgress({ tty, write: (text) => void process.stderr.write(text), columns: process.stderr.columns || undefined });
  const ctx = { ...tickContext(config, undefined, { format, stderr: progress?.writeLine }), progress };
  const lock = await lockForTick(ctx.state.dir, ctx.log);
  try {
    const result = await runTick(ctx);
    printTickReport({ ...result, results: withCapabilityHints(result.results, ctx.state.dir) }, request.json);
    return result.exitCode;
  } finally {
    lock?.release(); // null only when a signal stops the wait, and this wait has none
  }
}
