// Sections of RESULTS.md put together from several runs (between `<!-- name:begin -->` and `<!-- name:end -->`), which a bench run keeps when it rewrites the file.
import fs from "node:fs";

const SECTION = /<!-- ([a-z0-9-]+):begin -->[\s\S]*?<!-- \1:end -->/g;

/** `markdown` with section `name` set to `body` (the markers added), in place of the previous one or appended. */
export function withSection(markdown: string, name: string, body: string): string {
  const section = `<!-- ${name}:begin -->\n${body.trim()}\n<!-- ${name}:end -->`;
  const begin = markdown.indexOf(`<!-- ${name}:begin -->`);
  const endMarker = `<!-- ${name}:end -->`;
  const end = markdown.indexOf(endMarker, begin);
  if (begin >= 0 && end > begin) return markdown.slice(0, begin) + section + markdown.slice(end + endMarker.length);
  return `${markdown.trimEnd()}\n\n${section}\n`;
}

/** `fresh` (a run's RESULTS.md) with every marked section of `old` carried over, in the order `old` had them. */
export function keepSections(old: string, fresh: string): string {
  let out = fresh;
  for (const match of old.matchAll(SECTION)) {
    const name = match[1]!;
    const body = match[0].slice(`<!-- ${name}:begin -->`.length, -`<!-- ${name}:end -->`.length);
    out = withSection(out, name, body);
  }
  return out;
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** Writes a network bench run's `fresh` RESULTS.md to `file`, keeping the marked sections the file holds. */
export function writeResults(file: string, fresh: string): void {
  fs.writeFileSync(file, keepSections(readOrEmpty(file), fresh));
}

/** Sets section `name` of `file` (RESULTS.md) to `body`, leaving the rest of the file as it is. */
export function writeSection(file: string, name: string, body: string): void {
  fs.writeFileSync(file, withSection(readOrEmpty(file), name, body));
}
