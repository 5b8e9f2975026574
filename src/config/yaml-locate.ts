// Maps a path in the parsed value back to its line:col in the YAML text.
import { isAlias, isMap, isNode, isScalar, isSeq, type Document, type LineCounter, type Pair } from "yaml";
import type { PathSegment } from "./issue.ts";

export interface Position {
  line: number;
  col: number;
}

/** Where a finding points: the value itself, the key naming it, or the map or list item that holds it. */
export type Point = "value" | "key" | "parent";

export class YamlLocator {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  /**
   * Position of `path` seen as `point`. "value": the value's first character; "key": the map key naming it;
   * "parent": where the map or item holding it starts (the key that introduces it, or the item itself).
   * A path that does not exist resolves to its deepest existing ancestor; an empty document to 1:1.
   */
  locate(path: readonly PathSegment[], point: Point): Position {
    if (point === "parent") return this.locate(path.slice(0, -1), path.length > 1 && typeof path.at(-2) === "string" ? "key" : "value");
    let node: unknown = this.doc.contents;
    let offset = this.offsetOf(node) ?? 0;
    for (const [i, seg] of path.entries()) {
      if (isAlias(node)) node = node.resolve(this.doc);
      if (isMap(node) && typeof seg === "string") {
        const pair = (node.items as Pair[]).find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === seg);
        if (!pair) break;
        const last = i === path.length - 1;
        const keyOffset = this.offsetOf(pair.key);
        const valueOffset = this.offsetOf(pair.value);
        offset = (last && point === "key" ? keyOffset : (valueOffset ?? keyOffset)) ?? offset;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === "number" && seg < node.items.length) {
        node = node.items[seg];
        offset = this.offsetOf(node) ?? offset;
      } else {
        break;
      }
    }
    return this.lines.linePos(offset);
  }

  private offsetOf(node: unknown): number | undefined {
    if (!isNode(node) || !node.range) return undefined;
    // An empty value ("key:" with nothing after) has a zero-width range; point at its key instead.
    if (isScalar(node) && node.value === null && node.range[0] === node.range[1]) return undefined;
    return node.range[0];
  }
}
