// What `hashrelay server audit` does: show the server's audit log, or prove its chain unbroken.
import { EXIT, HashRelayError } from "../errors.ts";
import { LineSplitter, formatHead, parseAuditLine, parseHead, type AuditEntry, type ChainHead } from "../store/audit-chain.ts";
import { checkAuditLog, readAuditLog } from "../store/audit-log.ts";
import { checkBucketAudit, type BucketChainCheck } from "../store/bucket-audit-check.ts";
import { uploadedHead } from "../store/bucket-audit.ts";
import { connectBucket } from "../store/bucket-archives.ts";
import type { BucketConfig } from "../config/model.ts";
import { loadConfig, requireServer } from "../io/config-file.ts";

/** One entry as a line a person reads: seq, time, event, client/name, file, what else it says. */
function describeEntry(entry: AuditEntry): string {
  const e = entry as AuditEntry & Record<string, unknown>;
  const who = [e.client, e.name].filter((v) => typeof v === "string").join("/") || "-";
  const what = typeof e.file === "string" ? e.file : typeof e.item === "string" ? `.trash/${e.client}/${e.item}` : "";
  const more: Record<string, string> = {
    accept: `${e.size} bytes, archive ${String(e.archiveId).slice(0, 12)}…`,
    supersede: `→ ${e.replacedBy}`,
    trash: `→ .trash/${e.client}/${e.item}`,
    purge: `in trash since ${e.trashedAt}`,
    hold: `suspect ${e.suspect}: ${e.reason}`,
    release: `suspect ${e.suspect}: ${e.reason}`,
    recovered: String(e.reason),
    damaged: `found by ${e.by}: ${e.members} damaged member(s), ${e.first}`,
  };
  return [String(entry.seq).padStart(6), entry.at, entry.event.padEnd(9), who, what, more[entry.event] ?? ""].filter(Boolean).join("  ");
}

/** Exit 0 when the chain is intact (or the log was listed), 1 when --check finds a bad line; throws USAGE or CONFIG (2). */
export async function serverAudit(request: {
  configFile: string;
  check: boolean;
  expect: string | undefined;
  json: boolean;
}): Promise<number> {
  const expected = request.expect === undefined ? undefined : parseHead(request.expect);
  if (expected === null)
    throw new HashRelayError(
      "USAGE",
      `--expect ${request.expect} is not SEQ:HASH`,
      "pass the head a previous check printed, e.g. 42:3f5a…(64 hex digits)",
    );
  if (expected && !request.check) throw new HashRelayError("USAGE", "--expect goes with --check");
  const { storage, bucket } = requireServer(loadConfig(request.configFile)).server;
  return request.check ? checkChain(storage, bucket, expected, request.json) : listLog(storage, request.json);
}

/** Prints the log: its raw lines with --json, else one line a person reads per entry. */
async function listLog(storage: string, json: boolean): Promise<number> {
  const bytes = await readAuditLog(storage);
  if (json) {
    process.stdout.write(bytes);
    return EXIT.OK;
  }
  const splitter = new LineSplitter();
  const lines = splitter.push(bytes, Number.MAX_SAFE_INTEGER).map((line) => {
    const entry = parseAuditLine(line);
    return typeof entry === "string"
      ? `     ?  (not an audit record: ${entry}) ${Buffer.from(line).toString().slice(0, 120)}`
      : describeEntry(entry);
  });
  process.stdout.write(lines.length ? lines.join("\n") + "\n" : "the audit log is empty\n");
  return EXIT.OK;
}

/**
 * Walks the hash chain (and `expected`, a head kept elsewhere) of the local log and, on an S3 storage,
 * each server's chain in the bucket (unreachable: CONFIG, exit 2); exit 0 when all are intact, else 1
 * naming the first bad line of each.
 */
async function checkChain(
  storage: string,
  bucket: BucketConfig | undefined,
  expected: ChainHead | undefined,
  json: boolean,
): Promise<number> {
  const report = await checkAuditLog(storage, expected);
  const chains = bucket ? await checkBucketChains(storage, bucket) : [];
  const badChains = chains.filter((c) => !c.report.ok);
  if (json) {
    const head = (r: typeof report | BucketChainCheck["report"]) => (r.ok ? { ...r, head: formatHead(r.head) } : r);
    const inBucket = chains.map((c) => ({ server: c.server, prefix: c.prefix, ...head(c.report), ...(c.badKey ? { key: c.badKey } : {}) }));
    process.stdout.write(JSON.stringify({ ...head(report), ...(bucket ? { bucket: inBucket } : {}) }) + "\n");
    return report.ok && badChains.length === 0 ? EXIT.OK : new HashRelayError("STORAGE", "").exitCode;
  }
  if (report.ok) {
    const recovered = report.recovered.length
      ? `\nrecovery recorded at line ${report.recovered.join(", ")} (a torn line or a head file that did not match: see hashrelay server audit)`
      : "";
    process.stdout.write(`audit log intact: ${report.lines} lines, head ${formatHead(report.head)}${recovered}\n`);
  }
  if (bucket) process.stdout.write(describeBucketChains(bucket, chains));
  if (!report.ok) {
    throw new HashRelayError(
      "STORAGE",
      `audit log ${report.log}: ${report.problem}`,
      "the log was edited, cut or damaged; compare it with a copy kept elsewhere",
    );
  }
  if (badChains.length > 0) {
    const first = badChains[0]!;
    throw new HashRelayError(
      "STORAGE",
      `audit chain of server ${first.server} in ${bucket!.url}: ${first.report.ok ? "" : first.report.problem} (${first.badKey})`,
      "a line object was edited or deleted in the bucket; compare it with that server's local audit log",
    );
  }
  return EXIT.OK;
}

/** Each server's chain in the bucket; this server's anchored by what its cache recorded as uploaded (read before the listing). */
async function checkBucketChains(cache: string, bucket: BucketConfig): Promise<BucketChainCheck[]> {
  const uploaded = await uploadedHead(cache);
  const source = "this server's upload record (.hashrelay/audit-uploaded.json)";
  const anchors = new Map(uploaded ? [[uploaded.server, { ...uploaded.head, source }]] : []);
  return checkBucketAudit(await connectBucket(bucket, process.env), anchors);
}

/** One line per server chain in the bucket: intact with its lines and head, or its first bad line. */
function describeBucketChains(bucket: BucketConfig, chains: readonly BucketChainCheck[]): string {
  if (chains.length === 0) return `bucket ${bucket.url}: no audit lines yet\n`;
  const lines = chains.map(({ server, report, badKey }) =>
    report.ok
      ? `bucket ${bucket.url}: server ${server}: audit chain intact: ${report.lines} lines, head ${formatHead(report.head)}`
      : `bucket ${bucket.url}: server ${server}: audit chain BAD at line ${report.line} (${badKey}): ${report.problem}`,
  );
  return lines.join("\n") + "\n";
}
