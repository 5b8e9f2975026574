// `bun build/code-size.ts [--max-lines N] [--max-function N] [DIR...]`: the largest files and functions, and those over the limits.
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";

const root = path.resolve(import.meta.dir, "..");

export interface Sized {
  where: string;
  lines: number;
}

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));
}

/** Every function, method, arrow function and class in `file`, with its line count (first to last line). */
export function functionsOf(file: string): Sized[] {
  const text = fs.readFileSync(file, "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Sized[] = [];
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line + 1;
  const visit = (node: ts.Node, owner: string): void => {
    let name = owner;
    if (
      ts.isFunctionDeclaration(node) ||
      ts.isMethodDeclaration(node) ||
      ts.isArrowFunction(node) ||
      ts.isFunctionExpression(node) ||
      ts.isConstructorDeclaration(node)
    ) {
      const own = ts.isConstructorDeclaration(node)
        ? "constructor"
        : node.name && ts.isIdentifier(node.name)
          ? node.name.text
          : ts.isVariableDeclaration(node.parent) && ts.isIdentifier(node.parent.name)
            ? node.parent.name.text
            : ts.isPropertyAssignment(node.parent) && ts.isIdentifier(node.parent.name)
              ? node.parent.name.text
              : "(anonymous)";
      name = owner ? `${owner}.${own}` : own;
      const start = lineOf(node.getStart(source));
      out.push({ where: `${path.relative(root, file)}:${start} ${name}`, lines: lineOf(node.getEnd()) - start + 1 });
    } else if (ts.isClassDeclaration(node) && node.name) {
      name = node.name.text;
    }
    ts.forEachChild(node, (child) => visit(child, name));
  };
  visit(source, "");
  return out;
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const flag = (name: string, fallback: number) => {
    const at = args.indexOf(name);
    return at >= 0 ? Number(args.splice(at, 2)[1]) : fallback;
  };
  const maxLines = flag("--max-lines", 400);
  const maxFunction = flag("--max-function", 80);
  const dirs = args.length ? args : ["src"];
  const files = dirs.flatMap((d) => walk(path.resolve(root, d)));
  const fileSizes: Sized[] = files.map((f) => ({ where: path.relative(root, f), lines: fs.readFileSync(f, "utf8").split("\n").length }));
  const functions = files.flatMap(functionsOf);
  const top = (list: Sized[]) => [...list].sort((a, b) => b.lines - a.lines);
  console.log("largest files:");
  for (const f of top(fileSizes).slice(0, 5)) console.log(`  ${String(f.lines).padStart(5)}  ${f.where}`);
  console.log("largest functions:");
  for (const f of top(functions).slice(0, 5)) console.log(`  ${String(f.lines).padStart(5)}  ${f.where}`);
  const overFiles = top(fileSizes).filter((f) => f.lines > maxLines);
  const overFunctions = top(functions).filter((f) => f.lines > maxFunction);
  console.log(`files over ${maxLines} lines: ${overFiles.length}`);
  for (const f of overFiles) console.log(`  ${String(f.lines).padStart(5)}  ${f.where}`);
  console.log(`functions over ${maxFunction} lines: ${overFunctions.length}`);
  for (const f of overFunctions) console.log(`  ${String(f.lines).padStart(5)}  ${f.where}`);
}
