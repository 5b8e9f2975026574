// The config builder's readers of single values (names, keys, paths, key files, sizes, strings): each reports what it refuses as a finding at its key.
import { posix } from "node:path";
import { parsePublicKey } from "../protocol/identity.ts";
import { parseSize } from "./units.ts";
import { dottedKey, type PathSegment } from "./issue.ts";
import { keyHelp, SIZE_HINT } from "./key-help.ts";
import type { FileFacts } from "./model.ts";
import type { Finding } from "./schema-findings.ts";
import { MAX_SLUG_LENGTH, toSlug } from "./slug.ts";
import type { Point, Position } from "./yaml-locate.ts";

export interface BuildContext {
  file: string;
  /** Absolute folder of the config file: relative paths resolve against it. */
  dir: string;
  hash: string;
  hostname?: string;
  facts?: FileFacts;
  /** Dotted keys the schema already reported: not checked again. */
  reported: ReadonlySet<string>;
  locate(path: readonly PathSegment[], point: Point): Position;
}

export type Fields = Record<string, unknown>;

/** Reads values of a config through BuildContext, collecting a finding for each one refused. */
export class FieldReader {
  readonly findings: Finding[] = [];

  constructor(protected readonly ctx: BuildContext) {}

  /**
   * True when `value` is seen for the first time (and remembers it at `path`); otherwise reports `path`,
   * naming the list item that used it first and its line.
   */
  protected firstUse(
    seen: Map<string, PathSegment[]>,
    value: string,
    path: PathSegment[],
    message: (first: string) => string,
    hint: string,
  ): boolean {
    const first = seen.get(value);
    if (!first) {
      seen.set(value, path);
      return true;
    }
    const line = this.ctx.locate(first, "value").line;
    this.fail(path, "value", message(`${dottedKey(first.slice(0, 3))} (line ${line})`), hint);
    return false;
  }

  /** A size (a number of bytes, or text such as 8MiB) in bytes; undefined (reported) when it is not one. */
  protected size(path: PathSegment[], raw: unknown): number | undefined {
    if (typeof raw === "number") return raw;
    return this.text(path, raw, (text) => parseSize(text) ?? new Problem(`"${text}" is not a size`, SIZE_HINT));
  }

  /** A name (client or source): slugified, refused when nothing or too much remains. */
  protected name(path: PathSegment[], raw: unknown): string | undefined {
    return this.text(path, raw, (text) => {
      const slug = toSlug(text);
      if (slug === "") return new Problem(`"${text}" has no letters or digits to make a name from`, keyHelp(path).hint);
      if (slug.length > MAX_SLUG_LENGTH)
        return new Problem(`name "${slug}" is longer than ${MAX_SLUG_LENGTH} characters`, keyHelp(path).hint);
      return slug;
    });
  }

  protected publicKey(path: PathSegment[], raw: unknown): Uint8Array | undefined {
    const hint = keyHelp(path).hint;
    return this.text(path, raw, (text) => {
      if (!text.startsWith("ed25519:")) return new Problem(`"${clip(text)}" does not start with "ed25519:"`, hint);
      const b64 = text.slice("ed25519:".length);
      if (b64.length !== 44) return new Problem(`the key has ${b64.length} characters after "ed25519:", expected 44`, hint);
      return parsePublicKey(text) ?? new Problem('the key after "ed25519:" is not valid base64', hint);
    });
  }

  /** An absolute path, resolved against the config's folder. */
  protected path(path: PathSegment[], raw: unknown): string | undefined {
    return this.text(path, raw, (text) => {
      if (text.startsWith("~")) return new Problem(`"${text}": ~ is not expanded`, "write the full path, e.g. /home/alice/docs");
      return posix.resolve(this.ctx.dir, text);
    });
  }

  /** A private key (or other owner-only secret) path, and what the file facts (when given) say about the file. */
  protected keyFile(path: PathSegment[], raw: unknown, what = "private key"): string | undefined {
    const abs = this.path(path, raw);
    const fact = abs !== undefined ? this.ctx.facts?.statKeyFile(abs) : undefined;
    if (abs === undefined || fact === undefined) return abs;
    if (fact.kind === "missing") {
      const hint = what === "private key" ? `create it with: hashrelay keygen --out ${abs}` : `create it with mode 0600`;
      this.fail(path, "value", `${what} ${abs} does not exist`, hint);
    } else if (fact.kind === "unreadable") {
      const hint = `make it readable by the user hashrelay runs as, then chmod 600 ${abs}`;
      this.fail(path, "value", `${what} ${abs} cannot be read: ${fact.reason}`, hint);
    } else if ((fact.mode & S_IFMT) !== 0 && (fact.mode & S_IFMT) !== S_IFREG) {
      const hint = `point ${dottedKey(path)} at the key file, or create one with: hashrelay keygen --out FILE`;
      this.fail(path, "value", `${what} ${abs} is not a regular file`, hint);
    } else if ((fact.mode & 0o077) !== 0) {
      const mode = (fact.mode & 0o777).toString(8).padStart(4, "0");
      this.fail(path, "value", `${what} ${abs} is readable by group or others (mode ${mode})`, `chmod 600 ${abs}`);
    } else {
      return abs;
    }
    return undefined;
  }

  /**
   * Reads a string at `path` through `convert`, which returns the value or a Problem.
   * Non-strings and keys the schema already reported give undefined without a new finding.
   */
  protected text<T>(path: PathSegment[], raw: unknown, convert: (text: string) => T | Problem): T | undefined {
    if (typeof raw !== "string" || this.ctx.reported.has(dottedKey(path))) return undefined;
    const out = convert(raw);
    if (out instanceof Problem) {
      this.fail(path, "value", out.message, out.hint);
      return undefined;
    }
    return out;
  }

  protected fail(path: PathSegment[], point: Point, message: string, hint: string): void {
    this.findings.push({ path, point, message, hint });
  }
}

/** Why a value was refused, and what to write instead. */
export class Problem {
  constructor(
    readonly message: string,
    readonly hint: string,
  ) {}
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

export function isFields(v: unknown): v is Fields {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function clip(text: string): string {
  return text.length > 24 ? `${text.slice(0, 24)}...` : text;
}
