// Edits client.paths in a config's text, leaving every other byte (comments, order, spacing) as it was.
import { isMap, isPair, isScalar, isSeq, parse, parseDocument, type Document, type Node, type YAMLMap, type YAMLSeq } from "yaml";
import { HashRelayError } from "../errors.ts";

/** A source to append: an absolute path, and optionally a name and exclude patterns. */
export interface NewSource {
  path: string;
  name?: string;
  exclude?: string[];
}

/**
 * Appends `source` as the last item of client.paths, in the style of the list (block or flow) and at its
 * indentation. Only the inserted characters differ from `text`. Throws CONFIG when the text has no
 * client.paths list to extend, or when the result would not read back as the old list plus this item.
 */
export function addSourceText(text: string, source: NewSource): string {
  const { seq, items } = pathsList(text);
  const hasOptions = source.name !== undefined || (source.exclude?.length ?? 0) > 0;
  let out: string;
  if (seq.flow) {
    const item = hasOptions ? flowMapping(source) : scalar(source.path);
    const last = seq.items[seq.items.length - 1];
    if (last) {
      const at = contentEnd(last as Node);
      out = text.slice(0, at) + `, ${item}` + text.slice(at);
    } else {
      const close = seq.range![1] - 1;
      if (text[close] !== "]") throw layoutError("client.paths");
      out = text.slice(0, close) + item + text.slice(close);
    }
  } else {
    const last = seq.items[seq.items.length - 1] as Node | undefined;
    if (!last) throw layoutError("client.paths");
    const dashCol = column(text, seq.range![0]);
    const first = seq.items[0] as Node;
    const firstLine = lineStart(text, first.range![0]);
    // Items are written like the first one: "-" then as many spaces as it has before its content.
    const contentCol = firstLine === lineStart(text, seq.range![0]) ? column(text, first.range![0]) : dashCol + 2;
    const end = contentEnd(last);
    const newline = text.indexOf("\n", end);
    const insertAt = newline === -1 ? text.length : newline + 1;
    const dash = "-".padEnd(Math.max(2, contentCol - dashCol));
    const lines = [`${" ".repeat(dashCol)}${dash}${hasOptions ? `path: ${scalar(source.path)}` : scalar(source.path)}`];
    if (source.name !== undefined) lines.push(`${" ".repeat(contentCol)}name: ${scalar(source.name)}`);
    if (source.exclude?.length)
      lines.push(`${" ".repeat(contentCol)}exclude: [${source.exclude.map((p) => JSON.stringify(p)).join(", ")}]`);
    const block = lines.join("\n") + "\n";
    out = text.slice(0, insertAt) + (newline === -1 ? "\n" : "") + block + text.slice(insertAt);
  }
  const expected = [
    ...items,
    hasOptions
      ? {
          path: source.path,
          ...(source.name !== undefined ? { name: source.name } : {}),
          ...(source.exclude?.length ? { exclude: source.exclude } : {}),
        }
      : source.path,
  ];
  checkResult(out, expected);
  return out;
}

/**
 * Removes item `index` of client.paths: its lines in a block list (comments on other lines stay), or the
 * item and one comma in a flow list. Throws CONFIG as addSourceText does, and when index is out of range.
 */
export function removeSourceText(text: string, index: number): string {
  const { seq, items } = pathsList(text);
  const item = seq.items[index] as Node | undefined;
  if (!item || index < 0) throw new HashRelayError("CONFIG", `client.paths has no item ${index}`);
  let out: string;
  if (seq.flow) {
    const start = item.range![0];
    const end = contentEnd(item);
    const after = /^\s*,[ \t]*/.exec(text.slice(end));
    if (after) {
      out = text.slice(0, start) + text.slice(end + after[0].length);
    } else {
      const before = /,\s*$/.exec(text.slice(0, start));
      out = before ? text.slice(0, start - before[0].length) + text.slice(end) : text.slice(0, start) + text.slice(end);
    }
  } else {
    let dash = item.range![0] - 1;
    while (dash >= 0 && (text[dash] === " " || text[dash] === "\n" || text[dash] === "\r")) dash--;
    const start = lineStart(text, dash);
    if (text[dash] !== "-" || text.slice(start, dash).trim() !== "") throw layoutError(`client.paths item ${index + 1}`);
    const newline = text.indexOf("\n", contentEnd(item));
    out = text.slice(0, start) + (newline === -1 ? "" : text.slice(newline + 1));
  }
  checkResult(
    out,
    items.filter((_, i) => i !== index),
  );
  return out;
}

/** The parsed text and its client: mapping. Throws CONFIG when the text is not YAML or has no client: section (`hint` says what it is needed for). */
export function clientSection(text: string, hint: string): { doc: Document; client: YAMLMap } {
  const doc = parseDocument(text);
  if (doc.errors.length > 0)
    throw new HashRelayError(
      "CONFIG",
      `the file is not valid YAML: ${doc.errors[0]!.message.split("\n")[0]}`,
      "fix it first: hashrelay validate",
    );
  const client = isMap(doc.contents) ? doc.contents.get("client", true) : undefined;
  if (!isMap(client)) throw new HashRelayError("CONFIG", "the file has no client: section", hint);
  return { doc, client };
}

function pathsList(text: string): { seq: YAMLSeq; items: unknown[] } {
  const { doc, client } = clientSection(text, "only a client's config lists sources: add a client: section (see hashrelay.example.yaml)");
  const seq = client.get("paths", true);
  if (!isSeq(seq) || !seq.range)
    throw new HashRelayError("CONFIG", "client.paths is not a list", 'write client.paths as a list, e.g. "paths:" then "- /etc"');
  const items = (doc.toJS() as { client: { paths: unknown[] } }).client.paths;
  return { seq, items };
}

/** The offset just past the last character of a node's value (its trailing comment excluded). */
function contentEnd(node: Node): number {
  if (isMap(node) && !node.flow) {
    const pair = node.items[node.items.length - 1];
    if (isPair(pair)) {
      if (pair.value && (pair.value as Node).range) return contentEnd(pair.value as Node);
      if (isScalar(pair.key) && pair.key.range) return pair.key.range[1];
    }
  }
  if (isSeq(node) && !node.flow) {
    const last = node.items[node.items.length - 1];
    if (last && (last as Node).range) return contentEnd(last as Node);
  }
  return node.range![1];
}

function lineStart(text: string, offset: number): number {
  return text.lastIndexOf("\n", offset - 1) + 1;
}

function column(text: string, offset: number): number {
  return offset - lineStart(text, offset);
}

/** Plain when YAML reads it back as the same string and it holds nothing a flow list could misread; else double-quoted. */
export function scalar(value: string): string {
  if (/^[A-Za-z0-9_/.@+~][A-Za-z0-9_/.@+~-]*$/.test(value) && parse(value) === value) return value;
  return JSON.stringify(value);
}

function flowMapping(source: NewSource): string {
  const parts = [`path: ${scalar(source.path)}`];
  if (source.name !== undefined) parts.push(`name: ${scalar(source.name)}`);
  if (source.exclude?.length) parts.push(`exclude: [${source.exclude.map((p) => JSON.stringify(p)).join(", ")}]`);
  return `{ ${parts.join(", ")} }`;
}

/** Throws INTERNAL unless `text` parses and its client.paths is exactly `expected`. */
function checkResult(text: string, expected: unknown[]): void {
  const doc = parseDocument(text);
  const paths = doc.errors.length === 0 ? (doc.toJS() as { client?: { paths?: unknown } })?.client?.paths : undefined;
  if (JSON.stringify(paths) !== JSON.stringify(expected)) {
    throw new HashRelayError(
      "INTERNAL",
      "the edit would not read back as intended; the file was not changed",
      "edit client.paths by hand, then run hashrelay validate",
    );
  }
}

function layoutError(where: string): HashRelayError {
  return new HashRelayError(
    "CONFIG",
    `${where} is laid out in a way this edit does not handle`,
    "edit client.paths by hand, then run hashrelay validate",
  );
}
