// The check of every server's audit chain in the bucket (bucket-audit.ts wrote them): the lines downloaded in order through the chain checker.
import { ChainWalker, type ChainAnchor, type ChainReport } from "./audit-chain.ts";
import { auditLineKey, seqOfLineKey } from "./bucket-audit.ts";
import type { BucketArchives } from "./bucket-archives.ts";

/** Lines downloaded at once while a chain is checked. */
const GETS_AT_ONCE = 8;

/** One server's chain in the bucket: its id, its key prefix, the verdict, and the key of the first bad line. */
export interface BucketChainCheck {
  server: string;
  prefix: string;
  report: ChainReport;
  badKey?: string;
}

/**
 * Checks each server's chain under `<prefix>/.hashrelay/audit/` without changing anything: its line
 * objects listed, downloaded in seq order, and walked as the local log is (audit-chain.ts), each
 * object one line. A seq missing between two present ones is a bad line (deleted); so is an object
 * under a chain that is not a line's key. `anchors` (by server id: what a server's cache recorded as
 * uploaded) name lines a chain must still hold with their hash; other chains' last lines are vouched
 * for by nothing. Returns the chains by server id. Throws S3Error when the store cannot be listed or read.
 */
export async function checkBucketAudit(
  bucket: BucketArchives,
  anchors: ReadonlyMap<string, ChainAnchor> = new Map(),
): Promise<BucketChainCheck[]> {
  const root = bucket.auditPrefix("");
  const chains = new Map<string, string[]>();
  for await (const o of bucket.s3.listAllObjects(root)) {
    const server = o.key.slice(root.length).split("/")[0]!;
    chains.set(server, [...(chains.get(server) ?? []), o.key]);
  }
  const checks: BucketChainCheck[] = [];
  for (const [server, keys] of [...chains].sort(([a], [b]) => a.localeCompare(b))) {
    const prefix = bucket.auditPrefix(server);
    const anchor = anchors.get(server);
    checks.push({ server, prefix, ...(await checkChainObjects(bucket, prefix, keys.sort(), anchor ? [anchor] : [])) });
  }
  return checks;
}

/** Walks the line objects `keys` (sorted) of one chain under `prefix`. */
async function checkChainObjects(
  bucket: BucketArchives,
  prefix: string,
  keys: readonly string[],
  anchors: readonly ChainAnchor[],
): Promise<{ report: ChainReport; badKey?: string }> {
  const walker = new ChainWalker(anchors);
  const newline = new Uint8Array([10]);
  for (let start = 0; start < keys.length; start += GETS_AT_ONCE) {
    const batch = keys.slice(start, start + GETS_AT_ONCE);
    const misplaced = batch.findIndex((key, i) => seqOfLineKey(prefix, key) !== start + i + 1);
    const readable = misplaced === -1 ? batch : batch.slice(0, misplaced);
    const lines = await Promise.all(readable.map((key) => bucket.s3.getBytes(key)));
    for (const line of lines) {
      const problem = walker.push(line) ?? walker.push(newline);
      if (problem) return { report: walker.end(), badKey: auditLineKey(prefix, problem.line) };
    }
    if (misplaced !== -1) {
      const seq = start + misplaced + 1;
      const found = seqOfLineKey(prefix, batch[misplaced]!);
      const problem =
        found === null
          ? `${batch[misplaced]} is not a line's key (${prefix}<12 digits>.json): not an object the server wrote`
          : `line ${seq} is missing from the bucket (the next object is line ${found}): it was deleted`;
      return { report: { ok: false, lines: seq - 1, line: seq, problem }, badKey: auditLineKey(prefix, seq) };
    }
  }
  return { report: walker.end() };
}
