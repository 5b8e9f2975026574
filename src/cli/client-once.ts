// `hashrelay client --once`: one tick now, its report on stdout, progress on stderr, its exit code.
import { runTick, type TickResult } from "../client/tick.ts";
import { createProgress } from "../client/progress.ts";
import { formatSize } from "../config/units.ts";
import { loadConfig, requireClient } from "../io/config-file.ts";
import { parseLogFormat } from "../io/log.ts";
import { tickContext } from "../client/tick-context.ts";

/**
 * Exit 0 every source sent or unchanged; 1 a source failed; 3 server down; 4 refused (the tick's own exit code).
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
  const result = await runTick(ctx);
  if (request.json) {
    const { server, results } = result;
    process.stdout.write(JSON.stringify({ server, results }) + "\n");
  } else {
    printHuman(result);
  }
  return result.exitCode;
}

function printHuman(result: TickResult): void {
  const lines = [`server ${result.server}${result.reason ? ` (${result.reason})` : ""}`];
  for (const r of result.results) {
    const detail =
      r.status === "failed" || r.status === "skipped"
        ? (r.error ?? "")
        : `${r.archive}  ${r.chunksSent}/${r.chunksTotal} chunks sent, ${formatSize(r.bytesSent)}`;
    lines.push(`  ${r.name.padEnd(20)} ${r.status.padEnd(9)} ${detail}`);
  }
  process.stdout.write(lines.join("\n") + "\n");
}
