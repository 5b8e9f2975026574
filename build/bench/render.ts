// Re-renders RESULTS.md from results.json (targets re-evaluated), e.g. after the report format changed: `bun build/bench/render.ts [DIR]`.
import fs from "node:fs";
import path from "node:path";
import { evaluateTargets, renderMarkdown, type BenchResults } from "./report.ts";
import { writeResults } from "./results-sections.ts";

const dir = path.resolve(process.argv[2] ?? import.meta.dir);
const results = JSON.parse(fs.readFileSync(path.join(dir, "results.json"), "utf8")) as BenchResults;
results.targets = evaluateTargets(results.scenarios);
fs.writeFileSync(path.join(dir, "results.json"), JSON.stringify(results, null, 2) + "\n");
writeResults(path.join(dir, "RESULTS.md"), renderMarkdown(results));
console.log(`rendered ${path.join(dir, "RESULTS.md")}`);
