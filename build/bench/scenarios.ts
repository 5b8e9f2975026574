// The bench's data sets and, for each, its scenarios in order: what each one does to the tree before the tools run.
import fs from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { T0, mutateSmallFiles, overwriteImageBlocks, planDataset, writeDataset, type DatasetSummary } from "./dataset.ts";
import { manyFilesEntry, writeManyFiles, type ManyFilesOptions } from "./many-files.ts";
import { openCorpus } from "./real-corpus.ts";
import { appendRealLine, mutateRealFiles, planReal, writeRealTree } from "./real-data.ts";
import type { ScenarioId, ScenarioOutcome } from "./report.ts";
import { Rng } from "./seeded-random.ts";
import { textLine, type TextKind } from "./text-gen.ts";

export const DATA_SETS = ["standard", "many-files", "real"] as const;
export type DataSetName = (typeof DATA_SETS)[number];

/** Scenario E: one line appended to one small file. */
export interface MutationE {
  file: string;
  /** The line appended (its newline included), raw and gzip -6. */
  lineBytes: number;
  lineGzip: number;
}

/** What a scenario did to the tree, for its section of RESULTS.md. */
export type Mutation = Pick<ScenarioOutcome, "mutationC" | "mutationD" | "mutationE">;

export interface ScenarioPlan {
  id: ScenarioId;
  title: string;
  /** Changes the tree before the tools run; returns what it did. */
  mutate?: () => Mutation;
  /** The tools restore their newest backup instead of backing up (scenario R). */
  restore?: true;
}

/** Scenario R: each tool's newest backup restored into an empty folder (issue 18). */
const RESTORE: ScenarioPlan = { id: "R", title: "restore the newest backup into an empty folder", restore: true };

/** The frozen corpus a real-files run copied its tree from. */
export interface CorpusSummary {
  id: string;
  frozenAt: string;
  frozenOn: string;
  files: number;
  bytes: number;
}

export interface BenchData {
  name: DataSetName;
  summary: DatasetSummary & { generateSeconds: number; corpus?: CorpusSummary };
  scenarios: ScenarioPlan[];
}

/** The mtime scenario E gives the file it appends to. */
const T_E = T0 + 3 * 86_400;

/**
 * Writes data set `name` under `tree` (which must not exist) and returns its scenarios:
 * - standard (`scale`: 1 = the issue's 411 MiB tree): A first backup, B nothing changed, C 1% of the
 *   small files edited, D 16 blocks of the disk image overwritten, E one line appended to one small file;
 * - many-files (`files` small text files): A, B, E;
 * - real (the corpus frozen in `corpus`, frozen from this machine first if absent; `scale` as for standard): A to E;
 * - standard and real end with R: the newest backup restored into an empty folder.
 */
export function prepareData(
  name: DataSetName,
  o: { seed: number; scale: number; files: number; corpus?: string },
  tree: string,
): BenchData {
  const started = performance.now();
  const summary = () => ({ generateSeconds: (performance.now() - started) / 1000 });
  const first: ScenarioPlan[] = [
    { id: "A", title: "first backup" },
    { id: "B", title: "nothing changed" },
  ];
  const appendE = (file: string, kind: TextKind, label: string): ScenarioPlan => ({
    id: "E",
    title: "one line appended to one file",
    mutate: () => ({ mutationE: appendLine(tree, file, kind, label) }),
  });
  if (name === "many-files") {
    const options: ManyFilesOptions = { seed: o.seed, files: o.files };
    const written = writeManyFiles(tree, options);
    const pick = manyFilesEntry(options, new Rng(`many/${o.seed}/mutation-e`).int(o.files));
    return { name, summary: { ...written, ...summary() }, scenarios: [...first, appendE(pick.path, pick.kind, pick.label)] };
  }
  const titleC = "1% of small files edited (2-4 lines), 20 added, 10 deleted";
  const planD: ScenarioPlan = {
    id: "D",
    title: "16 random 4 KiB blocks overwritten in the disk image",
  };
  if (name === "real") {
    if (!o.corpus) throw new Error("the real data set needs a corpus folder");
    const corpus = openCorpus(o.corpus, console.log);
    const plan = planReal(corpus, o);
    const written = writeRealTree(tree, corpus, plan);
    const corpusSummary: CorpusSummary = {
      id: corpus.id,
      frozenAt: corpus.frozenAt,
      frozenOn: corpus.frozenOn,
      files: corpus.entries.length,
      bytes: corpus.entries.reduce((sum, e) => sum + e.size, 0),
    };
    return {
      name,
      summary: { ...written, ...summary(), corpus: corpusSummary },
      scenarios: [
        ...first,
        {
          id: "C",
          title: `${titleC} (real files: lines replaced, inserted or deleted)`,
          mutate: () => ({ mutationC: mutateRealFiles(tree, corpus, plan) }),
        },
        { ...planD, mutate: () => ({ mutationD: overwriteImageBlocks(tree, plan) }) },
        { id: "E", title: "one line appended to one file", mutate: () => ({ mutationE: appendRealLine(tree, plan) }) },
        RESTORE,
      ],
    };
  }
  const plan = planDataset({ seed: o.seed, scale: o.scale });
  const written = writeDataset(tree, plan);
  const scenarios: ScenarioPlan[] = [
    ...first,
    { id: "C", title: titleC, mutate: () => ({ mutationC: mutateSmallFiles(tree, plan) }) },
    { ...planD, mutate: () => ({ mutationD: overwriteImageBlocks(tree, plan) }) },
    {
      id: "E",
      title: "one line appended to one file",
      mutate: () => {
        // drawn at E's turn: C changed the list of small files
        const f = plan.small[new Rng(`bench/${o.seed}/mutation-e`).int(plan.small.length)]!;
        return { mutationE: appendLine(tree, f.path, f.kind, f.label) };
      },
    },
    RESTORE,
  ];
  return { name, summary: { ...written, ...summary() }, scenarios };
}

/** Scenario E: appends one line that could be in the file (its kind's vocabulary) and gives it mtime T_E. */
function appendLine(tree: string, file: string, kind: TextKind, label: string): MutationE {
  const line = `${textLine(kind, label, `${label}/append`)}\n`;
  const abs = path.join(tree, file);
  fs.appendFileSync(abs, line);
  fs.utimesSync(abs, T_E, T_E);
  return { file, lineBytes: Buffer.byteLength(line), lineGzip: gzipSync(line, { level: 6 }).length };
}

/** The floor lines printed before a scenario's runs. */
export function floorLines(m: Mutation, fmtBytes: (n: number) => string): string[] {
  const lines: string[] = [];
  if (m.mutationC)
    lines.push(
      `floor: ${fmtBytes(m.mutationC.changedGzip)} gzip'd changed bytes, ${fmtBytes(m.mutationC.wholeFilesGzip)} gzip'd whole files`,
    );
  if (m.mutationD) lines.push(`floor: ${fmtBytes(m.mutationD.changedBytes)}`);
  if (m.mutationE) lines.push(`appended ${fmtBytes(m.mutationE.lineBytes)} to ${m.mutationE.file}`);
  return lines;
}
