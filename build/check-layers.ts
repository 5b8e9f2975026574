// The dependency rule, run by the gate: allowed edges between folders, pure modules without I/O, no import cycles.
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dir, "..");

/**
 * Who may import whom, by folder under src/ (a top-level file is its own layer, named after it).
 * Read it top-down: cli -> client/server -> store -> io -> config/protocol/archive -> errors.
 * Tests (*.test.ts) and test helpers (src/testing/, test-fixtures.ts) may import anything;
 * nothing that ships may import them.
 */
export const ALLOWED: Record<string, readonly string[]> = {
  main: ["cli", "errors"],
  worker: ["io", "archive", "protocol", "errors"],
  cli: ["client", "server", "store", "daemon", "session", "io", "config", "protocol", "archive", "errors"],
  client: ["daemon", "session", "io", "config", "protocol", "archive", "errors"],
  server: ["store", "daemon", "session", "io", "config", "protocol", "archive", "errors"],
  store: ["io", "config", "protocol", "archive", "errors"],
  daemon: ["io", "config", "protocol", "archive", "errors"],
  session: ["io", "protocol", "errors"],
  io: ["config", "protocol", "archive", "errors"],
  config: ["protocol", "errors"],
  archive: ["protocol", "errors"],
  protocol: ["errors"],
  errors: [],
};

/** Folders whose modules are pure: bytes and values in, values or typed errors out. */
export const PURE = ["config", "protocol", "archive"];
/** A file elsewhere that opens with this marker is held to the same rule (e.g. store/audit-chain.ts). */
const PURE_MARKER = /^\/\/ Pure[:.]/;

const FORBIDDEN_IN_PURE = [
  /^(node:)?(fs|fs\/promises|net|dgram|child_process|os|http|https|tls|worker_threads|cluster|readline|process)$/,
  /^bun(:.*)?$/,
];
const FORBIDDEN_GLOBALS =
  /\bBun\.|\bprocess\.(env|argv|exit|stdout|stderr|cwd|chdir|kill|on|memoryUsage)\b|\bsetTimeout\(|\bsetInterval\(|\bsetImmediate\(/;
const IMPORT =
  /(?:^|[^\w.])(?:import|export)\s*(?:type\s+)?(?:[\w$*{}\s,]+?\s+from\s+)?["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

export interface ImportEdge {
  from: string;
  to: string;
  line: number;
}

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .filter((f) => f.endsWith(".ts"));
}

const isTestOnly = (rel: string) => rel.endsWith(".test.ts") || rel.startsWith("src/testing/") || rel.endsWith("/test-fixtures.ts");

/** The layer of a file under src/: its first folder, or its own name for a top-level file. */
export function layerOf(rel: string): string {
  const parts = rel.replace(/^src\//, "").split("/");
  return parts.length === 1 ? parts[0]!.replace(/\.ts$/, "") : parts[0]!;
}

/** Every import of `file` with the line it is on: static, dynamic, type-only and re-exports alike. */
export function importsOf(text: string): { spec: string; line: number }[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, " ")).replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const out: { spec: string; line: number }[] = [];
  for (const m of code.matchAll(IMPORT)) {
    const spec = (m[1] ?? m[2])!;
    // The match may start with the character before the keyword (a newline): count lines up to the keyword.
    const at = m.index + m[0].search(/\b(?:import|export)\b/);
    out.push({ spec, line: code.slice(0, at).split("\n").length });
  }
  return out;
}

/** One line per violation in the src/ folder of the repository at `base`: file:line: what. */
export function findLayerViolations(base = root): string[] {
  const problems: string[] = [];
  const edges: ImportEdge[] = [];
  for (const file of walk(path.join(base, "src"))) {
    const rel = path.relative(base, file);
    const text = fs.readFileSync(file, "utf8");
    const layer = layerOf(rel);
    const testOnly = isTestOnly(rel);
    const pure = !testOnly && (PURE.includes(layer) || PURE_MARKER.test(text));
    if (!testOnly && !(layer in ALLOWED)) problems.push(`${rel}: folder src/${layer} is not in the layer table (build/check-layers.ts)`);
    for (const { spec, line } of importsOf(text)) {
      const where = `${rel}:${line}`;
      if (pure && FORBIDDEN_IN_PURE.some((re) => re.test(spec))) problems.push(`${where}: pure module imports ${spec}`);
      if (!spec.startsWith(".")) continue;
      const target = path.relative(base, path.resolve(path.dirname(file), spec));
      if (!target.startsWith("src/")) continue;
      if (isTestOnly(target)) {
        if (!testOnly) problems.push(`${where}: shipped code imports test-only ${target}`);
        continue;
      }
      if (testOnly) continue;
      edges.push({ from: rel, to: target, line });
      const to = layerOf(target);
      if (to !== layer && !(ALLOWED[layer] ?? []).includes(to)) problems.push(`${where}: ${layer}/ may not import ${to}/ (${target})`);
      if (pure && !PURE.includes(to) && to !== "errors" && !PURE_MARKER.test(fs.readFileSync(path.join(base, target), "utf8"))) {
        problems.push(`${where}: pure module imports ${target}, which is not pure`);
      }
    }
    if (pure) {
      text.split("\n").forEach((line, i) => {
        const code = line.replace(/\/\/.*$/, "");
        const hit = code.match(FORBIDDEN_GLOBALS);
        if (hit) problems.push(`${rel}:${i + 1}: pure module uses ${hit[0]}`);
      });
    }
  }
  for (const cycle of findCycles(edges)) problems.push(`import cycle among: ${cycle.join(", ")}`);
  return problems;
}

/** The strongly connected components of more than one file (or a file importing itself), each as a list of files. */
export function findCycles(edges: readonly ImportEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let counter = 0;
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (next.get(v) ?? []).includes(v)) cycles.push(component.reverse());
    }
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

if (import.meta.main) {
  const problems = findLayerViolations();
  for (const p of problems) console.error(p);
  if (problems.length) {
    console.error(`layer check: ${problems.length} violation(s); the rule is the table in build/check-layers.ts`);
    process.exit(1);
  }
  console.log(`layer check: every import follows the layer table, pure modules do no I/O, no import cycles`);
}
