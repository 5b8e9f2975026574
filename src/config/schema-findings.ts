// Validates the parsed YAML value against config/hashrelay.schema.json and words ajv's errors for people.
import type { ErrorObject } from "ajv";
import { configValidator } from "./config-validator.ts";
import type { PathSegment } from "./issue.ts";
import { keyHelp } from "./key-help.ts";
import type { Point } from "./yaml-locate.ts";

/** A problem at a path of the config value, before it is given a line and column. */
export interface Finding {
  path: PathSegment[];
  point: Point;
  message: string;
  hint: string;
}

const TYPE_WORDS: Record<string, string> = {
  string: "text",
  integer: "a whole number",
  number: "a number",
  object: "a mapping",
  array: "a list",
  boolean: "true or false",
};

/**
 * Schema findings for `value`. Pattern failures are returned apart, as paths: the semantic checks word
 * those better and the caller falls back to a generic message only where they found nothing.
 */
export function schemaFindings(value: unknown): { findings: Finding[]; patternPaths: PathSegment[][] } {
  const validate = configValidator();
  if (validate(value)) return { findings: [], patternPaths: [] };
  const findings: Finding[] = [];
  const patternPaths: PathSegment[][] = [];
  let sectionMissing = false;
  for (const error of validate.errors ?? []) {
    const path = pathOf(error.instancePath, value);
    if (error.schemaPath.startsWith("#/anyOf/") || error.schemaPath === "#/anyOf") {
      sectionMissing = true;
    } else if (error.keyword === "pattern") {
      patternPaths.push(path);
    } else if (error.keyword !== "if") {
      findings.push(word(error, path));
    }
  }
  if (sectionMissing) {
    findings.push({
      path: [],
      point: "value",
      message: "has neither a client nor a server section",
      hint: "add client: to back up this machine, server: to receive backups, or both",
    });
  }
  return { findings, patternPaths };
}

function word(error: ErrorObject, path: PathSegment[]): Finding {
  const help = keyHelp(path);
  const data: unknown = error.data;
  const parent = (error.parentSchema ?? {}) as { minimum?: number; maximum?: number; properties?: Record<string, unknown> };
  switch (error.keyword) {
    case "required": {
      const missing = String((error.params as { missingProperty: string }).missingProperty);
      const full = [...path, missing];
      return { path: full, point: "parent", message: "required key is missing", hint: keyHelp(full).hint };
    }
    case "additionalProperties": {
      const key = String((error.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys(parent.properties ?? {});
      const near = allowed.find((k) => isNear(k, key));
      const hint = near ? `did you mean "${near}"?` : `allowed keys here: ${allowed.join(", ")}`;
      return { path: [...path, key], point: "key", message: `unknown key "${key}"`, hint };
    }
    case "type": {
      if (path.length === 0 && data === null) return { path, point: "value", message: "the file is empty", hint: help.hint };
      const type = String((error.params as { type: string }).type);
      return {
        path,
        point: "value",
        message: `expected ${help.expected ?? TYPE_WORDS[type] ?? type}, got ${describeValue(data)}`,
        hint: help.hint,
      };
    }
    case "const":
      return { path, point: "value", message: `expected ${JSON.stringify(error.schema)}, got ${describeValue(data)}`, hint: help.hint };
    case "minimum":
    case "maximum": {
      const range = parent.minimum !== undefined && parent.maximum !== undefined;
      const message = range
        ? `${String(data)} is out of range ${parent.minimum}-${parent.maximum}`
        : `${String(data)} is ${error.keyword === "minimum" ? "less" : "more"} than ${String(error.schema)}`;
      return { path, point: "value", message, hint: help.hint };
    }
    case "minItems":
      return { path, point: "value", message: "the list is empty", hint: help.hint };
    case "minLength":
      return { path, point: "value", message: "the value is empty", hint: help.hint };
    default:
      return { path, point: "value", message: error.message ?? "is not valid", hint: help.hint };
  }
}

/** "/client/paths/1" → ["client", "paths", 1], numbering only where the value is a list. */
function pathOf(pointer: string, value: unknown): PathSegment[] {
  const path: PathSegment[] = [];
  let node = value;
  for (const raw of pointer.split("/").slice(1)) {
    const seg = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(node)) {
      path.push(Number(seg));
      node = node[Number(seg)];
    } else {
      path.push(seg);
      node = node !== null && typeof node === "object" ? (node as Record<string, unknown>)[seg] : undefined;
    }
  }
  return path;
}

/** A value as the user wrote it, for "got ...". */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(value);
  return String(value);
}

/** Same key but for case, or at most two edits apart: a likely typo. */
function isNear(candidate: string, typed: string): boolean {
  const a = candidate.toLowerCase();
  const b = typed.toLowerCase();
  if (a === b) return true;
  if (Math.abs(a.length - b.length) > 2) return false;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = row;
  }
  return prev[b.length]! <= 2;
}
