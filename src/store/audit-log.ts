// The server's audit log on disk: <storage>/.audit/audit.log, one fsynced line per event, and audit.head naming its last line.
//
// Appends run one at a time. Each line is appended (O_APPEND) and fsynced, then audit.head ("SEQ:HASH"
// of that line) is replaced atomically; a crash between the two leaves the head one line behind, which
// the next open brings up to date. At open (and after a failed append) the writer reads only the end of
// the log to continue the chain:
// - a last line without its newline (the server stopped while writing it) is moved to
//   `audit.log.SEQ.torn` beside the log, the log is cut back to its last whole line, and a
//   "recovered" line records it, so the chain stays intact and the tear stays visible;
// - a head file that names a later line, or the last line with another hash, or that is missing or
//   unreadable while the log has lines, is recorded the same way ("recovered", with the head's text);
// - a last whole line that is not an audit record stops the writer: every append then fails (the store
//   logs it) until an admin moves the damaged log aside.
import { mkdir, open, readFile } from "node:fs/promises";
import { writeFileAtomic } from "../io/atomic-file.ts";
import { HashRelayError } from "../errors.ts";
import {
  AUDIT_LINE_MAX,
  ChainWalker,
  GENESIS,
  formatAuditLine,
  formatHead,
  lineHash,
  parseAuditLine,
  parseHead,
  type AuditEvent,
  type ChainAnchor,
  type ChainHead,
  type ChainReport,
  type RecoveredEvent,
} from "./audit-chain.ts";
import { StoreLayout, pathExists } from "./layout.ts";
import { asStorageError } from "./storage-error.ts";
import type { StoreLog } from "./store-log.ts";

export const AUDIT_LOG = "audit.log";
export const AUDIT_HEAD = "audit.head";

export type { AuditEvent } from "./audit-chain.ts";

/** A line just appended and fsynced: its seq, its text (no newline), and the log's size after it. */
export interface AppendedLine {
  seq: number;
  text: string;
  end: number;
}

/** The end of the log: its last whole line, and the bytes after it when the log does not end with a newline. */
interface Tail {
  last: ChainHead;
  torn: { offset: number; bytes: Uint8Array } | null;
}

/** Appends events to the audit log of one storage root. */
export class AuditLog {
  private head: ChainHead = { seq: 0, hash: GENESIS };
  private queue: Promise<unknown> = Promise.resolve();
  /** False until the end of the log has been read (and after a failed append): the next append recovers first. */
  private ready = false;

  private constructor(
    private readonly layout: StoreLayout,
    private readonly log: StoreLog,
    private readonly now: () => number,
    private readonly appended: (line: AppendedLine) => void,
  ) {}

  /**
   * Opens the audit log of the storage at `root` (creating .audit, mode 0750) and continues its chain,
   * recovering as the file's header says. Never throws: a log it cannot continue is logged
   * (audit.unavailable) and every append retries, then rejects. `appended` is told each line once it
   * is fsynced, in order, and must return at once (the bucket's copy: bucket-audit.ts).
   */
  static async open(
    root: string,
    opts: { log?: StoreLog; now?: () => number; appended?: (line: AppendedLine) => void } = {},
  ): Promise<AuditLog> {
    const audit = new AuditLog(new StoreLayout(root), opts.log ?? (() => undefined), opts.now ?? Date.now, opts.appended ?? (() => {}));
    await audit.enqueue(() => audit.recover()).catch((err) => audit.log("error", "audit.unavailable", { error: (err as Error).message }));
    return audit;
  }

  /**
   * Appends one event; resolves once its line is fsynced and the head file names it. Appends run in call
   * order, one at a time. Rejects with STORAGE (or NO_SPACE) when the line cannot be written; a later
   * append is still tried.
   */
  append(event: AuditEvent): Promise<void> {
    return this.enqueue(async () => {
      if (!this.ready) await this.recover();
      await this.write(event);
    });
  }

  /** Resolves once every append queued so far has ended. Never rejects. */
  async flushed(): Promise<void> {
    await this.queue;
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async write(event: AuditEvent | RecoveredEvent): Promise<void> {
    const path = this.layout.auditPath(AUDIT_LOG);
    const seq = this.head.seq + 1;
    const line = formatAuditLine(seq, this.now(), event, this.head.hash);
    let size = -1;
    try {
      const handle = await open(path, "a", 0o640);
      try {
        size = (await handle.stat()).size;
        await handle.appendFile(line + "\n");
        await handle.sync();
      } catch (err) {
        // Cut back a partial line so the next line does not follow it; if that fails, recovery moves it aside.
        if (size >= 0) await handle.truncate(size).catch(() => undefined);
        throw err;
      } finally {
        await handle.close();
      }
    } catch (err) {
      this.ready = false;
      throw asStorageError(err, `cannot append to the audit log ${path}`);
    }
    this.head = { seq, hash: lineHash(line) };
    this.appended({ seq, text: line, end: size + Buffer.byteLength(line) + 1 });
    await this.writeHead();
  }

  private async writeHead(): Promise<void> {
    const path = this.layout.auditPath(AUDIT_HEAD);
    await writeFileAtomic(path, formatHead(this.head) + "\n", 0o640).catch((err) => {
      throw asStorageError(err, `cannot write the audit head ${path}`);
    });
  }

  /** Reads the end of the log and the head file, moves a torn line aside, records what did not match. */
  private async recover(): Promise<void> {
    await mkdir(this.layout.auditDir(), { recursive: true, mode: 0o750 });
    const headText = await readOrNull(this.layout.auditPath(AUDIT_HEAD));
    const tail = await this.readTail();
    const notes: RecoveredEvent[] = [];
    if (tail.torn) {
      const torn = await this.moveAside(tail.torn, tail.last.seq + 1);
      notes.push({
        event: "recovered",
        reason: `the last line had no newline (the server stopped while writing it): its ${tail.torn.bytes.length} bytes were moved to ${torn}`,
        torn,
        bytes: tail.torn.bytes.length,
      });
    }
    this.head = tail.last;
    const head = headText === null ? null : parseHead(headText);
    if (headText === null && tail.last.seq > 0) {
      notes.push({ event: "recovered", reason: `the head file was missing while the log ends at line ${tail.last.seq}` });
    } else if (headText !== null && !head) {
      notes.push({ event: "recovered", reason: "the head file did not hold SEQ:HASH", head: headText.slice(0, 200) });
    } else if (head && (head.seq > tail.last.seq || (head.seq === tail.last.seq && head.hash !== tail.last.hash))) {
      const what =
        head.seq > tail.last.seq
          ? `names line ${head.seq} but the log ends at line ${tail.last.seq}`
          : `names line ${head.seq} with another hash`;
      notes.push({
        event: "recovered",
        reason: `the head file ${what}: lines were cut off or edited while the server was stopped`,
        head: formatHead(head),
      });
    }
    this.ready = true;
    for (const note of notes) {
      this.log(note.torn ? "warn" : "error", "audit.recovered", { reason: note.reason });
      await this.write(note);
    }
    if (notes.length === 0 && headText?.trim() !== formatHead(this.head)) await this.writeHead();
  }

  /** The last whole line and what follows it. Throws STORAGE when the end of the log is not ours. */
  private async readTail(): Promise<Tail> {
    const path = this.layout.auditPath(AUDIT_LOG);
    let handle;
    try {
      handle = await open(path, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return { last: { seq: 0, hash: GENESIS }, torn: null };
      throw err;
    }
    try {
      const size = (await handle.stat()).size;
      const start = Math.max(0, size - 2 * (AUDIT_LINE_MAX + 1));
      const buf = Buffer.alloc(size - start);
      if (buf.length > 0) await handle.read(buf, 0, buf.length, start);
      const cut = buf.at(-1) === 10 ? buf.length : buf.lastIndexOf(10) + 1;
      const torn = cut < buf.length ? { offset: start + cut, bytes: buf.subarray(cut) } : null;
      if (cut === 0) {
        if (start > 0)
          throw new HashRelayError(
            "STORAGE",
            `${path}: no newline in its last ${buf.length} bytes: not a log this server wrote`,
            "move it aside; the server starts a new chain",
          );
        return { last: { seq: 0, hash: GENESIS }, torn };
      }
      const whole = buf.subarray(0, cut - 1);
      const line = whole.subarray(whole.lastIndexOf(10) + 1);
      const entry = parseAuditLine(line);
      if (typeof entry === "string" || (whole.lastIndexOf(10) === -1 && start > 0)) {
        throw new HashRelayError(
          "STORAGE",
          `${path}: its last whole line is not an audit record${typeof entry === "string" ? ` (${entry})` : ""}, so the chain cannot be continued`,
          "see hashrelay server audit --check; move the log aside to start a new chain",
        );
      }
      return { last: { seq: entry.seq, hash: lineHash(line) }, torn };
    } finally {
      await handle.close();
    }
  }

  /** Writes the torn bytes to `audit.log.SEQ.torn` (or .N after it), then cuts the log back to its last newline. Returns the file's name. */
  private async moveAside(torn: { offset: number; bytes: Uint8Array }, seq: number): Promise<string> {
    let name = `${AUDIT_LOG}.${seq}.torn`;
    for (let n = 1; await pathExists(this.layout.auditPath(name)); n++) name = `${AUDIT_LOG}.${seq}.torn.${n}`;
    await writeFileAtomic(this.layout.auditPath(name), torn.bytes, 0o640);
    const handle = await open(this.layout.auditPath(AUDIT_LOG), "r+");
    try {
      await handle.truncate(torn.offset);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return name;
  }
}

/** What `checkAuditLog` found, with the files it read. */
export type AuditCheck = ChainReport & { log: string; headFile: string };

/**
 * Checks the audit log of the storage at `root` without changing anything (the server may be running):
 * the chain, the head file (read first, so lines appended meanwhile only lengthen the log), and
 * `expect` (a SEQ:HASH kept from an earlier check). A log that ends mid-line is read once more after a
 * moment, in case the server was writing it. Throws STORAGE when a file cannot be read.
 */
export async function checkAuditLog(root: string, expect?: ChainHead): Promise<AuditCheck> {
  const layout = new StoreLayout(root);
  const files = { log: layout.auditPath(AUDIT_LOG), headFile: layout.auditPath(AUDIT_HEAD) };
  let report = await checkOnce(files, expect);
  if (!report.ok && report.problem.includes("no newline")) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    report = await checkOnce(files, expect);
  }
  return { ...report, ...files };
}

async function checkOnce(files: { log: string; headFile: string }, expect?: ChainHead): Promise<ChainReport> {
  const headText = await readOrNull(files.headFile).catch((err) => {
    throw asStorageError(err, `cannot read ${files.headFile}`);
  });
  const head = headText === null ? null : parseHead(headText);
  if (headText !== null && !head)
    return { ok: false, lines: 0, line: 0, problem: `the head file ${files.headFile} does not hold SEQ:HASH` };
  const anchors: ChainAnchor[] = [];
  if (head) anchors.push({ ...head, source: "the head file" });
  if (expect) anchors.push({ ...expect, source: "--expect" });
  const walker = new ChainWalker(anchors);
  try {
    const handle = await open(files.log, "r");
    try {
      const buf = Buffer.alloc(1 << 20);
      for (let read = -1; read !== 0; ) {
        ({ bytesRead: read } = await handle.read(buf, 0, buf.length, null));
        if (walker.push(buf.subarray(0, read))) break;
      }
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw asStorageError(err, `cannot read ${files.log}`);
  }
  const report = walker.end();
  if (report.ok && !head && report.lines > 0) {
    return {
      ok: false,
      lines: report.lines,
      line: report.lines,
      problem: `the head file ${files.headFile} is missing, so a cut-off end of the log cannot be seen (the server records this and writes it again at its next start)`,
    };
  }
  return report;
}

/** The audit log's bytes (empty when there is none yet). Throws STORAGE when it cannot be read. */
export async function readAuditLog(root: string): Promise<Uint8Array> {
  const path = new StoreLayout(root).auditPath(AUDIT_LOG);
  return (
    (await readOrNull(path, null).catch((err) => {
      throw asStorageError(err, `cannot read ${path}`);
    })) ?? new Uint8Array(0)
  );
}

function readOrNull(path: string): Promise<string | null>;
function readOrNull(path: string, encoding: null): Promise<Uint8Array | null>;
async function readOrNull(path: string, encoding: "utf8" | null = "utf8"): Promise<string | Uint8Array | null> {
  try {
    return encoding ? await readFile(path, encoding) : new Uint8Array(await readFile(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}
