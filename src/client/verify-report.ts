// How `hashrelay verify` words its verdicts: one line per archive, then what to do about those not proven.
import { missProbability } from "../protocol/proof.ts";
import type { AnchorKind } from "./archive-anchor.ts";

/** The verdict on one archive. */
export interface ArchiveVerdict {
  name: string;
  file: string;
  trashed: boolean;
  /** ok: every check passed; failed: the server's copy is not what was backed up; unverifiable: nothing could be checked. */
  status: "ok" | "failed" | "unverifiable";
  chunks: number;
  /** Members challenged and answered right, or (downloaded) received and matching their chunk id. */
  proven: number;
  /** Members picked that had no unspent proof answer left. */
  withoutProof: number;
  /** The first problems, each naming the member and chunk. */
  problems: string[];
  /** Chunks of the archive given fresh proof answers from the local source after the challenges. */
  refreshed: number;
  /** What the chunk list was checked against (absent when it could not be anchored). */
  anchor?: AnchorKind;
  anchoredBy?: string;
  /** Every chunk was downloaded and checked (--download), not challenged. */
  downloaded: boolean;
}

/** The text line (and problem lines) of a verdict. */
export function describeVerdict(v: ArchiveVerdict, deep: boolean): string {
  const where = v.trashed ? " (trash)" : "";
  // The receipt this client kept is the usual anchor; any other is said.
  const anchored = v.anchor && v.anchor !== "kept-receipt" ? `; anchored by ${v.anchoredBy}` : "";
  if (v.status === "ok" && v.downloaded)
    return `ok            ${v.file}${where}: downloaded, all ${v.chunks} chunks match the chunk list, the whole file matches the receipt's SHA-256${anchored}`;
  const sampled =
    v.proven < v.chunks
      ? ` (a sample: damage to 1% of the chunks goes unseen with probability ${missProbability(v.chunks, Math.ceil(v.chunks / 100), v.proven).toFixed(2)}${deep ? "" : "; --deep challenges all"})`
      : "";
  const extra = `${v.withoutProof > 0 ? `; ${v.withoutProof} picked had no proof answer left` : ""}${v.refreshed > 0 ? `; fresh answers made for ${v.refreshed} chunks from the local source` : ""}`;
  if (v.status === "ok") return `ok            ${v.file}${where}: ${v.proven} of ${v.chunks} chunks proven${sampled}${extra}${anchored}`;
  const head = v.status === "failed" ? "FAILED        " : "UNVERIFIABLE  ";
  return [
    `${head}${v.file}${where}: ${v.problems.length > 0 ? v.problems[0] : ""}`,
    ...v.problems.slice(1, 5).map((p) => `              ${p}`),
    ...(v.problems.length > 5 ? [`              … ${v.problems.length - 5} more`] : []),
  ].join("\n");
}

/** The closing lines: what to do about the archives that failed, and about those that could not be checked. */
export function verifySummary(verdicts: ArchiveVerdict[]): string[] {
  const count = (n: number) => `${n} archive${n === 1 ? "" : "s"}`;
  const failed = verdicts.filter((v) => v.status === "failed").length;
  const unverifiable = verdicts.filter((v) => v.status === "unverifiable").length;
  return [
    ...(failed > 0
      ? [`${count(failed)} NOT proven: restore an older one (hashrelay ls) and run hashrelay server verify on the server`]
      : []),
    ...(unverifiable > 0
      ? [
          `${count(unverifiable)} NOT proven: nothing could be challenged (a new machine, or state/proofs.sqlite lost); hashrelay verify --download checks every chunk by downloading it`,
        ]
      : []),
  ];
}
