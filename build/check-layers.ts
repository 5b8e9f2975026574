// Fails when a pure module (config, protocol, archive) reaches for I/O: node:fs, node:net, processes, src/io, Bun.*.
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dir, "..");
const PURE = ["src/config", "src/protocol", "src/archive"];
const FORBIDDEN_IMPORTS = [
  /^(node:)?(fs|fs\/promises|net|dgram|child_process|os|http|https|tls|worker_threads|cluster|readline|process)$/,
  /^bun(:.*)?$/,
  /(^|\/)(io|agent|store|cli)\//,
];
const FORBIDDEN_GLOBALS = /\bBun\.|\bprocess\.(env|argv|exit|stdout|stderr|cwd|chdir|kill|on)\b|\bsetTimeout\(|\bsetInterval\(/;

/** Returns one line per violation: file:line: what. */
export function findLayerViolations(): string[] {
  const problems: string[] = [];
  for (const dir of PURE) {
    for (const file of walk(path.join(root, dir))) {
      if (!file.endsWith(".ts") || file.endsWith(".test.ts")) continue;
      const lines = fs.readFileSync(file, "utf8").split("\n");
      lines.forEach((line, i) => {
        const where = `${path.relative(root, file)}:${i + 1}`;
        for (const m of line.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*|^\s*import\s+)["']([^"']+)["']/g)) {
          const spec = m[1]!;
          if (FORBIDDEN_IMPORTS.some((re) => re.test(spec))) problems.push(`${where}: pure module imports ${spec}`);
        }
        const code = line.replace(/\/\/.*$/, "");
        if (FORBIDDEN_GLOBALS.test(code)) problems.push(`${where}: pure module uses ${code.match(FORBIDDEN_GLOBALS)![0]}`);
      });
    }
  }
  return problems;
}

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

if (import.meta.main) {
  const problems = findLayerViolations();
  for (const p of problems) console.error(p);
  if (problems.length) {
    console.error(`layer check: ${problems.length} violation(s): pure folders (${PURE.join(", ")}) must not do I/O`);
    process.exit(1);
  }
  console.log(`layer check: ${PURE.join(", ")} import no I/O`);
}
