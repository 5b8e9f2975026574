// Config issues: where (file:line:col and the dotted key), what is wrong, and what to do.

export interface ConfigIssue {
  file: string;
  /** 1-based line and column. */
  line: number;
  col: number;
  /** Dotted key such as `client.paths[1].name`; "(root)" for the whole file, "(yaml)" for a syntax error. */
  key: string;
  message: string;
  /** What to do about it. */
  hint: string;
}

/** One path step below the document root: a map key or a list index. */
export type PathSegment = string | number;

/** `file:line:col: key: message (hint)`; the parenthesis is left out when there is no hint. */
export function formatIssue(i: ConfigIssue): string {
  const head = `${i.file}:${i.line}:${i.col}: ${i.key}: ${i.message}`;
  return i.hint ? `${head} (${i.hint})` : head;
}

/** ["client", "paths", 1, "name"] → "client.paths[1].name"; [] → "(root)". */
export function dottedKey(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) out += typeof seg === "number" ? `[${seg}]` : out === "" ? seg : `.${seg}`;
  return out === "" ? "(root)" : out;
}

/** Like dottedKey with list indexes blanked: "client.paths[].name". */
export function genericKey(path: readonly PathSegment[]): string {
  return dottedKey(path).replace(/\[[0-9]+\]/g, "[]");
}
