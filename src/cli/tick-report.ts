// A tick's report on stdout, as `client --once` and `backup-now` print it: one JSON object, or a line per source.
import type { TickResult } from "../client/tick.ts";
import { formatSize } from "../config/units.ts";

/** `{"server","results"}` with `json`, else "server up" and a line per source. */
export function printTickReport(result: Pick<TickResult, "server" | "reason" | "results">, json: boolean): void {
  if (json) {
    const { server, results } = result;
    process.stdout.write(JSON.stringify({ server, results }) + "\n");
    return;
  }
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
