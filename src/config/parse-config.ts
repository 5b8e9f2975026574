// YAML text → normalized Config, or every issue found, each with file:line:col, key, message and hint.
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { buildConfig } from "./build-config.ts";
import { dottedKey, type ConfigIssue } from "./issue.ts";
import { keyHelp } from "./key-help.ts";
import type { Config, FileFacts } from "./model.ts";
import { describeValue, schemaFindings, type Finding } from "./schema-findings.ts";
import { YamlLocator } from "./yaml-locate.ts";

export type { ClientConfig, Config, FileFacts, KeyFileFact, ServerConfig, SourceConfig } from "./model.ts";
export { formatIssue, type ConfigIssue } from "./issue.ts";

export interface ParseOptions {
  /** Default for client.name (slugified); the caller passes os.hostname(). */
  hostname?: string;
  /** When given, private key files are checked: present, readable, mode 0600. */
  facts?: FileFacts;
}

export type ParseResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] };

/** Larger than any sane config; refused before parsing. */
export const MAX_CONFIG_CHARS = 1024 * 1024;

const YAML_HINTS: Record<string, string> = {
  DUPLICATE_KEY: "keep one of the two keys",
  TAB_AS_INDENT: "indent with spaces, not tabs",
  BAD_INDENT: "indent the lines of one block by the same number of spaces, and close every [ or {",
  MISSING_CHAR: "a quote or bracket opened earlier is not closed",
  MULTIPLE_DOCS: "keep one document: remove the --- line and what follows, or merge it",
  BLOCK_AS_IMPLICIT_KEY: "start a nested mapping on its own line, indented below its key",
  MULTILINE_IMPLICIT_KEY: "put each key on one line, followed by a colon and a space",
};

/**
 * Parses and validates one config file's text. `file` names the file in issues; relative paths in the
 * config resolve against its folder (a relative `file` resolves against the working folder). Never throws:
 * every problem found (YAML syntax first; if none, schema and semantic checks) comes back as an issue.
 */
export function parseConfig(text: string, file: string, options: ParseOptions = {}): ParseResult {
  const issue = (line: number, col: number, key: string, message: string, hint: string): ConfigIssue => ({
    file,
    line,
    col,
    key,
    message,
    hint,
  });
  if (text.length > MAX_CONFIG_CHARS) {
    const tooLarge = issue(
      1,
      1,
      "(root)",
      `the file is larger than ${MAX_CONFIG_CHARS / 1024} KiB`,
      "point --config at a HashRelay config file",
    );
    return { ok: false, issues: [tooLarge] };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e) => {
      const { line, col } = lines.linePos(e.pos[0]);
      const message = e.code === "MULTIPLE_DOCS" ? "the file holds more than one YAML document" : lowerFirst(e.message);
      return issue(line, col, "(yaml)", message, YAML_HINTS[e.code] ?? "fix the YAML syntax here");
    });
    return { ok: false, issues };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return {
      ok: false,
      issues: [
        issue(1, 1, "(yaml)", `cannot be read: ${reason}`, "check the anchors (&name) and aliases (*name), or write the values out"),
      ],
    };
  }

  const locator = new YamlLocator(doc, lines);
  const dir = posix.dirname(posix.resolve(file));
  const hash = createHash("sha256").update(text).digest("hex");
  const schema = schemaFindings(value);
  const reported = new Set(schema.findings.map((f) => dottedKey(f.path)));
  const built = buildConfig(value, { file, dir, hash, ...options, reported, locate: (path, point) => locator.locate(path, point) });
  const findings: Finding[] = [...schema.findings, ...built.findings];
  // A schema pattern the semantic checks did not word still counts, as a plainer issue.
  for (const path of schema.patternPaths) {
    if (findings.some((f) => dottedKey(f.path) === dottedKey(path))) continue;
    findings.push({
      path,
      point: "value",
      message: `${describeValue(valueAt(value, path))} does not have the expected form`,
      hint: keyHelp(path).hint,
    });
  }
  if (findings.length === 0 && built.config) return { ok: true, config: built.config };

  const issues = findings.map((f) => {
    const { line, col } = locator.locate(f.path, f.point);
    return issue(line, col, dottedKey(f.path), f.message, f.hint);
  });
  issues.sort((a, b) => a.line - b.line || a.col - b.col);
  return { ok: false, issues };
}

function valueAt(value: unknown, path: readonly (string | number)[]): unknown {
  let node = value;
  for (const seg of path) node = node !== null && typeof node === "object" ? (node as Record<string | number, unknown>)[seg] : undefined;
  return node;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
