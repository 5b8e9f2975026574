// Exclude patterns of a source (gitignore-like, no negation), compiled into a matcher of paths below the source root.
import { HashRelayError } from "../errors.ts";

/** Matches paths relative to the source root ("sub/file.txt", no leading "/"). */
export interface ExcludeMatcher {
  excludes(relPath: string, isDir: boolean): boolean;
}

/**
 * Exclude patterns, gitignore-like (no negation), matched against each path below the source
 * root, relative to it (the source itself is never excluded):
 * - a trailing "/" makes the pattern match folders only ("cache/": every folder named cache);
 * - a pattern with a "/" elsewhere (or a leading "/") is anchored at the source root and must
 *   match the whole relative path ("logs/old" is <source>/logs/old only);
 * - otherwise it matches the base name at any depth ("*.log");
 * - "*" matches any run of characters but "/", "?" one character but "/", "[abc]", "[a-z]",
 *   "[!a-z]" one character of a set; "**" as a whole segment matches any number of segments
 *   ("**\/tmp", "build/**", "a/**\/b"); "\" escapes the next character.
 * An excluded folder is not entered: nothing under it is archived.
 * Throws CONFIG on an empty pattern or one starting with "!".
 */
export function compileExcludes(patterns: readonly string[]): ExcludeMatcher {
  const rules = patterns.map((pattern) => {
    if (pattern === "" || pattern === "/" || pattern.startsWith("!")) {
      throw new HashRelayError(
        "CONFIG",
        `exclude pattern ${JSON.stringify(pattern)} is not supported`,
        'use a non-empty glob such as "*.log", "cache/" or "logs/old"; negation (!) is not supported',
      );
    }
    let body = pattern;
    const dirOnly = body.endsWith("/");
    while (body.endsWith("/")) body = body.slice(0, -1);
    const anchored = body.includes("/");
    if (body.startsWith("/")) body = body.slice(1);
    return { dirOnly, anchored, regex: new RegExp(`^${globToRegex(body)}$`, "s") };
  });
  return {
    excludes(relPath, isDir) {
      const base = relPath.slice(relPath.lastIndexOf("/") + 1);
      return rules.some((r) => (!r.dirOnly || isDir) && r.regex.test(r.anchored ? relPath : base));
    },
  };
}

function globToRegex(glob: string): string {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    const atSegmentStart = i === 0 || glob[i - 1] === "/";
    if (c === "*" && glob[i + 1] === "*" && atSegmentStart && (i + 2 === glob.length || glob[i + 2] === "/")) {
      if (i + 2 === glob.length) {
        out += ".*";
        i += 1;
      } else {
        out += "(?:[^/]*/)*";
        i += 2;
      }
    } else if (c === "*") {
      out += "[^/]*";
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "\\" && i + 1 < glob.length) {
      out += escapeRegex(glob[++i]!);
    } else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) {
        out += "\\[";
        continue;
      }
      let set = glob.slice(i + 1, close);
      const negate = set.startsWith("!") || set.startsWith("^");
      if (negate) set = set.slice(1);
      const inner = set.replace(/[\\\]^[]/g, "\\$&");
      out += negate ? `(?!/)[^${inner}]` : `(?!/)[${inner}]`;
      i = close;
    } else {
      out += escapeRegex(c);
    }
  }
  return out;
}

function escapeRegex(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}
