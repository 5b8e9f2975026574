// RESULTS.md holds two benches' findings: the network bench's (run.ts) and, between markers, the fan-in bench's (fan-in.ts).
import fs from "node:fs";

const START = "<!-- fan-in: written by build/bench/fan-in.ts; the network bench keeps it -->";
const END = "<!-- fan-in: end -->";

function read(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** The fan-in section of `text`, markers included, or "" when it has none. */
function fanInPart(text: string): string {
  const from = text.indexOf(START);
  const to = text.indexOf(END);
  return from >= 0 && to > from ? text.slice(from, to + END.length) : "";
}

/** Writes the network bench's `markdown` to `file`, keeping the fan-in section the file holds. */
export function writeNetworkResults(file: string, markdown: string): void {
  const kept = fanInPart(read(file));
  fs.writeFileSync(file, kept ? `${markdown.trimEnd()}\n\n${kept}\n` : markdown);
}

/** Puts `markdown` as the fan-in section of `file` (replacing the one it holds, else at its end). */
export function writeFanInResults(file: string, markdown: string): void {
  const text = read(file);
  const section = `${START}\n${markdown.trim()}\n${END}`;
  const old = fanInPart(text);
  fs.writeFileSync(file, old ? text.replace(old, section) : `${text.trimEnd()}\n\n${section}\n`);
}
