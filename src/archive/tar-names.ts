// The entry names of a tar stream as its bytes go by, so that a restore refuses an unsafe name before tar reads it.
import { HashRelayError } from "../errors.ts";
import { TAR_BLOCK, tarPadding } from "./tar.ts";

/** Link, device and FIFO entries carry no data: a header of one that declares a size is refused, not guessed at. */
const NO_DATA_TYPES = new Set(["1", "2", "3", "4", "6"]);
/** Entries whose data names the next entry: a GNU long name ("L"), pax headers ("x" per entry, "g" global). */
const NAMING_TYPES = new Set(["L", "x", "g"]);
/** Largest naming entry read (GNU tar's own limit on a long name is far below). */
const MAX_NAMING_BYTES = 1024 * 1024;

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/**
 * Reads a tar stream in pieces of any size and tells the name of every entry as its header ends: the
 * pax `path` (per entry or global), else the GNU long name, else the ustar prefix and name. Every name
 * that could be extracted is told (zero blocks are passed over rather than taken as the end, so
 * nothing after them hides), which may tell more than tar extracts, never less. Throws SOURCE on a
 * header that is not one (bad checksum), a size it cannot read, or a link entry with data.
 */
export class TarNameScanner {
  private readonly header = new Uint8Array(TAR_BLOCK);
  private headerFill = 0;
  /** Data (and padding) bytes of the current entry still to pass over. */
  private skip = 0;
  /** The data of a naming entry being collected, and the padding after it. */
  private naming: { type: string; bytes: Uint8Array; fill: number; padding: number } | null = null;
  private nextName: string | null = null;
  private globalName: string | null = null;
  private headers = 0;

  /** Feeds the next bytes of the stream; returns the names of the entries whose headers are complete in them. */
  push(bytes: Uint8Array): string[] {
    const names: string[] = [];
    let at = 0;
    while (at < bytes.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, bytes.length - at);
        this.skip -= n;
        at += n;
      } else if (this.naming) {
        at += this.collectNaming(bytes.subarray(at));
      } else {
        const n = Math.min(TAR_BLOCK - this.headerFill, bytes.length - at);
        this.header.set(bytes.subarray(at, at + n), this.headerFill);
        this.headerFill += n;
        at += n;
        if (this.headerFill < TAR_BLOCK) continue;
        this.headerFill = 0;
        const name = this.readHeader();
        if (name !== null) names.push(name);
      }
    }
    return names;
  }

  /** Reads the header block now whole; returns the name of an entry, null for a zero or naming block. */
  private readHeader(): string | null {
    const h = this.header;
    if (h.every((b) => b === 0)) return null;
    const where = `tar header ${this.headers++}`;
    if (checksumOf(h) !== octal(h.subarray(148, 156), where)) throw refused(`${where} has a bad checksum`);
    const type = h[156] === 0 ? "0" : String.fromCharCode(h[156]!);
    const size = sizeOf(h.subarray(124, 136), where);
    if (NAMING_TYPES.has(type)) {
      if (size > MAX_NAMING_BYTES) throw refused(`${where}: a ${type} header of ${size} bytes`);
      this.naming = { type, bytes: new Uint8Array(size), fill: 0, padding: tarPadding(size) };
      return null;
    }
    if (NO_DATA_TYPES.has(type) && size > 0) throw refused(`${where}: a link or device entry with ${size} bytes of data`);
    const name = this.nextName ?? this.globalName ?? ustarName(h);
    this.nextName = null;
    this.skip = size + tarPadding(size);
    return name;
  }

  /** Collects the naming entry's data from `bytes`; returns how many it used. */
  private collectNaming(bytes: Uint8Array): number {
    const naming = this.naming!;
    const n = Math.min(naming.bytes.length - naming.fill, bytes.length);
    naming.bytes.set(bytes.subarray(0, n), naming.fill);
    naming.fill += n;
    if (naming.fill < naming.bytes.length) return n;
    this.naming = null;
    this.skip = naming.padding;
    if (naming.type === "L") this.nextName = cString(naming.bytes);
    else {
      const path = paxPath(naming.bytes);
      if (path !== null && naming.type === "x") this.nextName = path;
      if (path !== null && naming.type === "g") this.globalName = path;
    }
    return n;
  }
}

function refused(message: string): HashRelayError {
  return new HashRelayError("SOURCE", `the archive is not a tar stream a restore can check: ${message}`);
}

/** The header's checksum: its bytes summed with the checksum field as spaces. */
function checksumOf(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum;
}

/** An octal field (digits, then spaces or NULs). Throws SOURCE on anything else. */
function octal(field: Uint8Array, where: string): number {
  const text = latin1
    .decode(field)
    .replace(/[\0 ]+$/, "")
    .trim();
  if (!/^[0-7]*$/.test(text)) throw refused(`${where}: ${JSON.stringify(text)} is not an octal number`);
  return text === "" ? 0 : parseInt(text, 8);
}

/** The size field: octal, or GNU base-256 (first byte 0x80, big-endian); refused beyond 2^53. */
function sizeOf(field: Uint8Array, where: string): number {
  if (field[0] !== 0x80) return octal(field, where);
  let size = 0;
  for (const b of field.subarray(1)) size = size * 256 + b;
  if (!Number.isSafeInteger(size)) throw refused(`${where}: a size beyond 2^53`);
  return size;
}

/** The name a ustar (or older) header holds: the prefix joins the name only under the POSIX "ustar\0" magic. */
function ustarName(h: Uint8Array): string {
  const name = cString(h.subarray(0, 100));
  const posix = latin1.decode(h.subarray(257, 263)) === "ustar\0";
  const prefix = posix ? cString(h.subarray(345, 500)) : "";
  return prefix === "" ? name : `${prefix}/${name}`;
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return utf8.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** The last `path` record of pax records ("LEN key=value\n" each, LEN counting bytes), or null. */
function paxPath(records: Uint8Array): string | null {
  let path: string | null = null;
  for (let at = 0; at < records.length; ) {
    const space = records.indexOf(0x20, at);
    const length = space < 0 ? NaN : Number(latin1.decode(records.subarray(at, space)));
    if (!Number.isInteger(length) || at + length <= space) break;
    const record = utf8.decode(records.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    if (record.slice(0, eq) === "path") path = record.slice(eq + 1);
    at += length;
  }
  return path;
}
