// The audit log copied into the bucket on an S3 storage: each line one object under this server's id, in order, caught up after the store was down.
import { open, readFile } from "node:fs/promises";
import { writeFileAtomic } from "../io/atomic-file.ts";
import type { S3Client } from "../io/s3-client.ts";
import { GENESIS, LineSplitter, lineHash, parseAuditLine, type ChainHead } from "./audit-chain.ts";
import { AUDIT_LOG, type AppendedLine } from "./audit-log.ts";
import type { BucketArchives } from "./bucket-archives.ts";
import { DERIVED_DIR, StoreLayout } from "./layout.ts";
import type { StoreLog } from "./store-log.ts";

/** Digits of the seq in a line's key, so that keys list in chain order. */
const SEQ_DIGITS = 12;

/** The key of line `seq` under a chain's prefix (BucketArchives.auditPrefix). */
export function auditLineKey(chainPrefix: string, seq: number): string {
  return `${chainPrefix}${String(seq).padStart(SEQ_DIGITS, "0")}.json`;
}

/** The seq a key under a chain's prefix names, or null when it is not a line's key. */
export function seqOfLineKey(chainPrefix: string, key: string): number | null {
  const match = /^(\d{12})\.json$/.exec(key.slice(chainPrefix.length));
  return match ? Number(match[1]) : null;
}

/** How far the bucket holds the local log, kept in `<cache>/.hashrelay/audit-uploaded.json`: its last line uploaded and where the next starts. */
interface Uploaded {
  server: string;
  seq: number;
  hash: string;
  offset: number;
}

/**
 * Copies the lines of the audit log at `<cache>/.audit/audit.log` into the bucket, one object per
 * line holding its exact bytes (no newline), under `auditPrefix(serverId)`, strictly in order: line N
 * goes up only after line N-1 is there. A line just appended (`appended`) goes up at once in the
 * background; one the store did not take leaves the copy behind, and `catchUp` (the purge timer's,
 * and at start) reads the local log from the first line missing and uploads the rest. Nothing here
 * throws or makes an append wait: failures are logged. A local log that no longer continues what was
 * uploaded (moved aside, restarted) is logged (audit.bucket-diverged) and not copied.
 */
export class BucketAudit {
  private queue: Promise<void> = Promise.resolve();
  /** Set when a line was not uploaded: live lines then wait for catchUp, which reads them from the log. */
  private behind = false;
  private diverged = false;

  private constructor(
    private readonly s3: S3Client,
    private readonly prefix: string,
    private readonly layout: StoreLayout,
    private readonly log: StoreLog,
    private uploaded: Uploaded,
  ) {}

  /** The copy of the log at `cacheRoot` into `bucket` under this server's id (bucket.leases.serverId: call after useServerIdOf). */
  static async open(bucket: BucketArchives, cacheRoot: string, log: StoreLog): Promise<BucketAudit> {
    const layout = new StoreLayout(cacheRoot);
    const server = bucket.leases.serverId;
    const kept = await readUploaded(statePath(layout));
    const uploaded = kept?.server === server ? kept : { server, seq: 0, hash: GENESIS, offset: 0 };
    const s3 = bucket.quick().s3;
    return new BucketAudit(s3, bucket.auditPrefix(server), layout, log, uploaded);
  }

  /** Queues the upload of a line the log just appended; returns at once. */
  appended(line: AppendedLine): void {
    void this.enqueue(async () => {
      if (this.behind || this.diverged || line.seq <= this.uploaded.seq) return;
      if (line.seq !== this.uploaded.seq + 1) {
        this.behind = true; // lines before it are missing: catchUp reads them from the log
        return;
      }
      const bytes = new TextEncoder().encode(line.text);
      if (this.continues(bytes) && (await this.upload(line.seq, bytes, line.end))) await this.saveState();
    });
  }

  /** Uploads every line of the local log the bucket lacks, in order, until the end or the first failure. Never throws. */
  catchUp(): Promise<void> {
    return this.enqueue(async () => {
      if (this.diverged) return;
      try {
        const before = this.uploaded.seq;
        this.behind = !(await this.uploadFromLog());
        if (this.uploaded.seq > before) {
          await this.saveState();
          this.log("info", "audit.bucket-caught-up", { lines: this.uploaded.seq - before, head: this.uploaded.seq });
        }
      } catch (err) {
        this.behind = true;
        this.log("error", "audit.bucket-catch-up-failed", { error: (err as Error).message });
      }
    });
  }

  /** Resolves once every upload queued so far has ended. */
  flushed(): Promise<void> {
    return this.queue;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(task).catch((err) => this.log("error", "audit.bucket-failed", { error: (err as Error).message }));
    return this.queue;
  }

  /** Reads the log from the first line not uploaded and uploads each; true when it reached the end. Throws fs errors. */
  private async uploadFromLog(): Promise<boolean> {
    let handle;
    try {
      handle = await open(this.layout.auditPath(AUDIT_LOG), "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return true;
      throw err;
    }
    try {
      const splitter = new LineSplitter();
      const buf = Buffer.alloc(1 << 20);
      let offset = this.uploaded.offset;
      for (let read = -1; read !== 0; ) {
        ({ bytesRead: read } = await handle.read(buf, 0, buf.length, offset));
        offset += read;
        for (const line of splitter.push(buf.subarray(0, read), Number.MAX_SAFE_INTEGER)) {
          if (!this.continues(line)) return true;
          if (!(await this.upload(this.uploaded.seq + 1, line, this.uploaded.offset + line.length + 1))) return false;
        }
      }
      return true;
    } finally {
      await handle.close();
    }
  }

  /** Whether `line` is the one after the last uploaded; when not, the copy stops for good (logged once). */
  private continues(line: Uint8Array): boolean {
    const entry = parseAuditLine(line);
    if (typeof entry !== "string" && entry.seq === this.uploaded.seq + 1 && entry.prev === this.uploaded.hash) return true;
    this.diverged = true;
    this.log("error", "audit.bucket-diverged", {
      after: this.uploaded.seq,
      note: "the local audit log does not continue the lines uploaded (moved aside or restarted): it is no longer copied to the bucket",
    });
    return false;
  }

  /** Puts line `seq`; true when the store took it. A failure is logged and leaves the copy behind. */
  private async upload(seq: number, bytes: Uint8Array, end: number): Promise<boolean> {
    try {
      await this.s3.putObject(auditLineKey(this.prefix, seq), bytes, "application/json");
    } catch (err) {
      if (!this.behind) this.log("warn", "audit.bucket-behind", { seq, error: (err as Error).message });
      this.behind = true;
      return false;
    }
    this.uploaded = { ...this.uploaded, seq, hash: lineHash(bytes), offset: end };
    return true;
  }

  private async saveState(): Promise<void> {
    await writeFileAtomic(statePath(this.layout), JSON.stringify(this.uploaded) + "\n", 0o640).catch((err) =>
      this.log("warn", "audit.bucket-state-unsaved", { error: (err as Error).message }),
    );
  }
}

/**
 * What the server on the cache at `cacheRoot` last recorded as uploaded: its id and the last line of
 * its chain in the bucket (an anchor for that chain: the bucket must still hold it), or null when it
 * kept none. Throws nothing.
 */
export async function uploadedHead(cacheRoot: string): Promise<{ server: string; head: ChainHead } | null> {
  const kept = await readUploaded(statePath(new StoreLayout(cacheRoot)));
  return kept && kept.seq > 0 ? { server: kept.server, head: { seq: kept.seq, hash: kept.hash } } : null;
}

function statePath(layout: StoreLayout): string {
  return layout.under(DERIVED_DIR, "audit-uploaded.json");
}

/** The state kept at `path`, or null when it is missing or not one. */
async function readUploaded(path: string): Promise<Uploaded | null> {
  try {
    const value = JSON.parse(await readFile(path, "utf8")) as Partial<Uploaded>;
    const whole = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
    if (typeof value.server === "string" && whole(value.seq) && typeof value.hash === "string" && whole(value.offset))
      return value as Uploaded;
  } catch {}
  return null;
}
