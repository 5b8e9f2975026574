// Sections of RESULTS.md put together from several runs (between `<!-- name:begin -->` and `<!-- name:end -->`), which a bench run keeps when it rewrites the file.

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
