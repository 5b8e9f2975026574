// The few XML shapes S3 answers with, read without a parser: flat elements, their text, entities decoded.

/** The text of each `<tag>…</tag>` in `xml`, in order, entities decoded (S3's bodies have no CDATA or attributes on these). */
export function xmlValues(xml: string, tag: string): string[] {
  return xmlBlocks(xml, tag).map(decodeEntities);
}

/** The text of the first `<tag>`, or undefined. */
export function xmlValue(xml: string, tag: string): string | undefined {
  return xmlValues(xml, tag)[0];
}

/** The raw inner text of each `<tag>…</tag>` (for repeated records such as <Contents>). */
export function xmlBlocks(xml: string, tag: string): string[] {
  const out: string[] = [];
  const pattern = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, "g");
  for (const match of xml.matchAll(pattern)) out.push(match[1]!);
  return out;
}

/** The name of the document's root element (after the XML declaration), or undefined. */
export function xmlRoot(xml: string): string | undefined {
  return /<([A-Za-z][\w.-]*)[\s>]/.exec(xml.replace(/<\?[\s\S]*?\?>/g, ""))?.[1];
}

/** Escapes text for an element's content. */
export function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" }[c]};`);
}

function decodeEntities(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, name: string) => {
    if (name[0] === "#") return String.fromCodePoint(name[1] === "x" ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1)));
    return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[name]!;
  });
}
