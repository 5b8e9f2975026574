// Deterministic ustar/pax header encoding and the path order entries are archived in.
import { HashRelayError } from "../errors.ts";

export type TarEntryType = "file" | "dir" | "symlink";

/** One archive member as it will appear in the tar stream (metadata only; content is streamed by the caller). */
export interface TarEntry {
  /** Relative POSIX path: no leading "/" or "./", no trailing "/", no empty, "." or ".." segment. */
  path: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (masked with 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Owner names; "" when unknown. */
  uname: string;
  gname: string;
  /** Content length in bytes; must be 0 unless type is "file". */
  size: number;
  /** Modification time, integer seconds since the epoch (may be negative). */
  mtime: number;
  /** Symlink target, required for (and only for) "symlink". */
  linkTarget?: string;
}

export const TAR_BLOCK = 512;
/** End of archive: two zero blocks. */
export const TAR_TRAILER: Uint8Array = new Uint8Array(2 * TAR_BLOCK);
/** Fixed name of every pax extended header, so headers never depend on the process or the path. */
export const PAX_HEADER_NAME = "././@PaxHeader";

const NAME_LEN = 100;
const PREFIX_LEN = 155;
const LINK_LEN = 100;
const OWNER_NAME_LEN = 32;
/** Largest value of an 8-byte octal field (7 digits + NUL). */
const MAX_OCTAL_8 = 0o7777777;
/** Largest value of a 12-byte octal field (11 digits + NUL): 8 GiB - 1. */
const MAX_OCTAL_12 = 0o77777777777;

const utf8 = new TextEncoder();

/** Zero bytes needed after `size` content bytes to reach the next 512-byte boundary. */
export function tarPadding(size: number): number {
  const rest = size % TAR_BLOCK;
  return rest === 0 ? 0 : TAR_BLOCK - rest;
}

/**
 * Orders archive paths so that a folder's entry comes right before everything inside it:
 * paths are compared segment by segment, each segment by Unicode code point (the same order
 * as its UTF-8 bytes). Equivalently: byte-wise UTF-8 order with "/" ranked below every other
 * byte. So "dir" < "dir/x" < "dir/z" < "dir-2" < "dir0" (plain byte order would put "dir-2"
 * between "dir" and "dir/x", because "-" is below "/"). Returns <0, 0 or >0.
 */
export function compareTarPaths(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(j)!;
    if (ca !== cb) {
      if (ca === 0x2f) return -1;
      if (cb === 0x2f) return 1;
      return ca < cb ? -1 : 1;
    }
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  if (i < a.length) return 1;
  if (j < b.length) return -1;
  return 0;
}

/** compareTarPaths over the paths' UTF-8 bytes: byte order with "/" ranked below every other byte. */
export function compareTarPathBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a[i]!;
    const cb = b[i]!;
    if (ca !== cb) {
      if (ca === 0x2f) return -1;
      if (cb === 0x2f) return 1;
      return ca < cb ? -1 : 1;
    }
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Throws INTERNAL when `path` is not a clean relative archive path (see TarEntry.path). */
export function assertArchivePath(path: string): void {
  const bad =
    path === "" || path.includes("\0") || path.split("/").some((segment) => segment === "" || segment === "." || segment === "..");
  if (bad) throw new HashRelayError("INTERNAL", `invalid archive path ${JSON.stringify(path)}`);
}

/** What the header of `entry` holds: the pax records it needs, and which ustar fields fit. Throws INTERNAL on a bad entry. */
function headerFields(entry: TarEntry) {
  assertArchivePath(entry.path);
  assertEntryFields(entry);
  const pax: [string, string][] = [];
  const name = entry.type === "dir" ? `${entry.path}/` : entry.path;
  const split = splitUstarName(name);
  if (!split) pax.push(["path", name]);
  const link = entry.linkTarget ?? "";
  const linkFits = isAscii(link) && link.length <= LINK_LEN;
  if (!linkFits) pax.push(["linkpath", link]);
  const sizeFits = entry.size <= MAX_OCTAL_12;
  if (!sizeFits) pax.push(["size", String(entry.size)]);
  const uidFits = entry.uid <= MAX_OCTAL_8;
  if (!uidFits) pax.push(["uid", String(entry.uid)]);
  const gidFits = entry.gid <= MAX_OCTAL_8;
  if (!gidFits) pax.push(["gid", String(entry.gid)]);
  const unameFits = isAscii(entry.uname) && entry.uname.length < OWNER_NAME_LEN;
  if (!unameFits) pax.push(["uname", entry.uname]);
  const gnameFits = isAscii(entry.gname) && entry.gname.length < OWNER_NAME_LEN;
  if (!gnameFits) pax.push(["gname", entry.gname]);
  const mtimeFits = entry.mtime >= 0 && entry.mtime <= MAX_OCTAL_12;
  if (!mtimeFits) pax.push(["mtime", String(entry.mtime)]);
  return { pax, split, name, link, linkFits, sizeFits, uidFits, gidFits, unameFits, gnameFits, mtimeFits };
}

/** encodeTarHeader(entry).length, without making the header (a pax header's records are made). */
export function tarHeaderLength(entry: TarEntry): number {
  const { pax } = headerFields(entry);
  if (pax.length === 0) return TAR_BLOCK;
  const records = encodePaxRecords(pax).length;
  return TAR_BLOCK + records + tarPadding(records) + TAR_BLOCK;
}

/**
 * The header block(s) of one entry: a pax extended header ("x") with its records when the
 * path or link target does not fit ustar (name 100 / prefix 155 bytes, or non-ASCII), the
 * size reaches 8 GiB, uid/gid exceed 7 octal digits, uname/gname exceed 31 bytes or are not
 * ASCII, or mtime is out of the octal field's range; then the ustar header. Output depends
 * only on `entry`. Throws INTERNAL on an entry that breaks the TarEntry contract.
 */
export function encodeTarHeader(entry: TarEntry): Uint8Array {
  const { pax, split, name, link, linkFits, sizeFits, uidFits, gidFits, unameFits, gnameFits, mtimeFits } = headerFields(entry);

  const ustar = new Uint8Array(TAR_BLOCK);
  const fallback = split ?? { prefix: "", name: asciiFallback(name, NAME_LEN) };
  writeText(ustar, 0, NAME_LEN, fallback.name);
  writeOctal(ustar, 100, 8, entry.mode & 0o7777);
  writeOctal(ustar, 108, 8, uidFits ? entry.uid : 0);
  writeOctal(ustar, 116, 8, gidFits ? entry.gid : 0);
  writeOctal(ustar, 124, 12, sizeFits ? entry.size : 0);
  writeOctal(ustar, 136, 12, mtimeFits ? entry.mtime : 0);
  ustar[156] = TYPEFLAG[entry.type];
  writeText(ustar, 157, LINK_LEN, linkFits ? link : asciiFallback(link, LINK_LEN));
  writeText(ustar, 257, 6, "ustar\0");
  writeText(ustar, 263, 2, "00");
  writeText(ustar, 265, OWNER_NAME_LEN, unameFits ? entry.uname : asciiFallback(entry.uname, OWNER_NAME_LEN - 1));
  writeText(ustar, 297, OWNER_NAME_LEN, gnameFits ? entry.gname : asciiFallback(entry.gname, OWNER_NAME_LEN - 1));
  writeOctal(ustar, 329, 8, 0);
  writeOctal(ustar, 337, 8, 0);
  writeText(ustar, 345, PREFIX_LEN, fallback.prefix);
  writeChecksum(ustar);

  if (pax.length === 0) return ustar;
  const records = encodePaxRecords(pax);
  const paxHeader = new Uint8Array(TAR_BLOCK);
  writeText(paxHeader, 0, NAME_LEN, PAX_HEADER_NAME);
  writeOctal(paxHeader, 100, 8, 0o644);
  writeOctal(paxHeader, 108, 8, 0);
  writeOctal(paxHeader, 116, 8, 0);
  writeOctal(paxHeader, 124, 12, records.length);
  writeOctal(paxHeader, 136, 12, 0);
  paxHeader[156] = 0x78; // 'x': extended header for the next entry
  writeText(paxHeader, 257, 6, "ustar\0");
  writeText(paxHeader, 263, 2, "00");
  writeOctal(paxHeader, 329, 8, 0);
  writeOctal(paxHeader, 337, 8, 0);
  writeChecksum(paxHeader);

  const out = new Uint8Array(TAR_BLOCK + records.length + tarPadding(records.length) + TAR_BLOCK);
  out.set(paxHeader, 0);
  out.set(records, TAR_BLOCK);
  out.set(ustar, out.length - TAR_BLOCK);
  return out;
}

/**
 * Writes `size` and `mtime` into the ustar header block `ustar` (512 bytes) as encodeTarHeader does (0
 * when the value needs a pax record), then its checksum: the header the entry had with those values,
 * all else equal.
 */
export function rewriteSizeAndMtime(ustar: Uint8Array, size: number, mtime: number): void {
  writeOctal(ustar, 124, 12, size <= MAX_OCTAL_12 ? size : 0);
  writeOctal(ustar, 136, 12, mtime >= 0 && mtime <= MAX_OCTAL_12 ? mtime : 0);
  writeChecksum(ustar);
}

const TYPEFLAG: Record<TarEntryType, number> = { file: 0x30, dir: 0x35, symlink: 0x32 };

function assertEntryFields(entry: TarEntry): void {
  const problems: string[] = [];
  const natural = (v: number) => Number.isSafeInteger(v) && v >= 0;
  if (!natural(entry.mode)) problems.push("mode");
  if (!natural(entry.uid)) problems.push("uid");
  if (!natural(entry.gid)) problems.push("gid");
  if (!natural(entry.size) || (entry.type !== "file" && entry.size !== 0)) problems.push("size");
  if (!Number.isSafeInteger(entry.mtime)) problems.push("mtime");
  if ((entry.type === "symlink") !== (entry.linkTarget !== undefined)) problems.push("linkTarget");
  if (entry.linkTarget !== undefined && (entry.linkTarget === "" || entry.linkTarget.includes("\0"))) {
    problems.push("linkTarget");
  }
  if (entry.uname.includes("\0") || entry.gname.includes("\0")) problems.push("uname/gname");
  if (problems.length > 0) {
    throw new HashRelayError("INTERNAL", `invalid tar entry ${JSON.stringify(entry.path)}: bad ${problems.join(", ")}`);
  }
}

function isAscii(text: string): boolean {
  return /^[\x01-\x7f]*$/.test(text);
}

/** Splits an ASCII name into ustar prefix + name, or null when it cannot be stored without pax. */
function splitUstarName(name: string): { prefix: string; name: string } | null {
  if (!isAscii(name)) return null;
  if (name.length <= NAME_LEN) return { prefix: "", name };
  // The split must fall on a "/" with prefix <= 155 bytes and the rest (non-empty) <= 100 bytes.
  // A directory's trailing "/" stays with the name part.
  for (let cut = Math.min(PREFIX_LEN, name.length - 2); cut > 0; cut--) {
    if (name[cut] !== "/") continue;
    const rest = name.slice(cut + 1);
    if (rest.length > NAME_LEN) return null;
    if (rest === "" || rest === "/") continue;
    return { prefix: name.slice(0, cut), name: rest };
  }
  return null;
}

/** A deterministic stand-in for readers without pax support: ASCII only, last `max` bytes. */
function asciiFallback(text: string, max: number): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, "_");
  return ascii.length <= max ? ascii : ascii.slice(ascii.length - max);
}

function writeText(block: Uint8Array, offset: number, length: number, text: string): void {
  const bytes = utf8.encode(text);
  if (bytes.length > length) throw new HashRelayError("INTERNAL", `tar field overflow: ${JSON.stringify(text)}`);
  block.set(bytes, offset);
}

/** Zero-padded octal digits filling the field, then a NUL. */
function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  const digits = value.toString(8).padStart(length - 1, "0");
  if (digits.length > length - 1) throw new HashRelayError("INTERNAL", `tar octal field overflow: ${value}`);
  writeText(block, offset, length - 1, digits);
  block[offset + length - 1] = 0;
}

/** Header checksum: sum of all bytes with the field read as spaces; stored as 6 octal digits, NUL, space. */
function writeChecksum(block: Uint8Array): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < TAR_BLOCK; i++) sum += block[i]!;
  writeText(block, 148, 6, sum.toString(8).padStart(6, "0"));
  block[154] = 0;
  block[155] = 0x20;
}

/** "LEN key=value\n" records; LEN counts the whole record including its own digits. */
function encodePaxRecords(records: [string, string][]): Uint8Array {
  let text = "";
  for (const [key, value] of records) {
    const body = ` ${key}=${value}\n`;
    const bodyLength = utf8.encode(body).length;
    let length = bodyLength + 1;
    while (String(length).length + bodyLength !== length) length = String(length).length + bodyLength;
    text += `${length}${body}`;
  }
  return utf8.encode(text);
}
