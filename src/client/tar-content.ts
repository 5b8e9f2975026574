// The bytes of one tar entry in the stream: its header, its file's content read through one buffer, its padding.
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { HashRelayError } from "../errors.ts";
import { TAR_TRAILER, encodeTarHeader, tarPadding, type TarEntry } from "../archive/tar.ts";
import { sourceError } from "./tree-walk.ts";

/** What the builder needs from a walked entry: its tar metadata and, for files, where to read it. */
export type BuildEntry = TarEntry & { absPath: string };

/**
 * Writes the bytes of one segment from `within` on: the entry's header, then for a file its content
 * and padding; the trailer when `entry` is null. Stops early when `stopped()`. Throws SOURCE naming a
 * file that cannot be opened or read or is no longer a regular file.
 */
export async function produceSegment(
  entry: BuildEntry | null,
  within: number,
  write: (bytes: Uint8Array) => Promise<void>,
  stopped: () => boolean,
  buffer: Uint8Array,
  warnings: string[],
): Promise<void> {
  if (!entry) {
    await write(TAR_TRAILER.subarray(within));
    return;
  }
  const header = encodeTarHeader(entry);
  if (entry.type !== "file") {
    await write(header.subarray(within));
    return;
  }
  const fd = openRegularFile(entry.absPath);
  try {
    if (within < header.length) await write(header.subarray(within));
    if (stopped()) return;
    const from = Math.max(0, within - header.length);
    if (from < entry.size) await copyContent(fd, entry, buffer, write, warnings, from, stopped);
  } finally {
    closeSync(fd);
  }
  if (stopped()) return;
  const padding = tarPadding(entry.size);
  const padFrom = Math.max(0, within - header.length - entry.size);
  if (padding > padFrom) await write(TAR_TRAILER.subarray(0, padding - padFrom));
}

/**
 * Opens without following a symlink and checks it is still a regular file; throws SOURCE naming it.
 * Files are opened and read with synchronous calls: a read from the page cache takes microseconds, and
 * four thread-pool round trips per file (open, stat, read, close) cost more than the reading itself
 * on a tree of 20,000 small files.
 */
function openRegularFile(absPath: string): number {
  let fd: number;
  try {
    fd = openSync(absPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT") {
      throw new HashRelayError("SOURCE", `${absPath} vanished while being archived`, "the next run will try again", { cause: err });
    }
    if (code === "ELOOP") {
      throw new HashRelayError("SOURCE", `${absPath} was replaced by a symlink while being archived`, "the next run will try again", {
        cause: err,
      });
    }
    throw sourceError(absPath, err);
  }
  let regular: boolean;
  try {
    regular = fstatSync(fd).isFile();
  } catch (err) {
    closeSync(fd);
    throw sourceError(absPath, err);
  }
  if (!regular) {
    closeSync(fd);
    throw new HashRelayError("SOURCE", `${absPath} is no longer a regular file`, "the next run will try again");
  }
  return fd;
}

/** Writes exactly entry.size bytes of the file: zeros for what is missing, nothing past the size. */
async function copyContent(
  fd: number,
  entry: BuildEntry,
  buffer: Uint8Array,
  write: (bytes: Uint8Array) => Promise<void>,
  warnings: string[],
  from = 0,
  stopped: () => boolean = () => false,
): Promise<void> {
  let done = from;
  // Whether a read already asked for a byte past the size: a file's last read asks for one more byte
  // when the buffer holds it, so that growth shows there, not in one more read per file.
  let probed = false;
  while (done < entry.size) {
    if (stopped()) return;
    const left = entry.size - done;
    const want = Math.min(buffer.length, left + 1);
    let got: number;
    try {
      got = readSync(fd, buffer, 0, want, done);
    } catch (err) {
      throw sourceError(entry.absPath, err);
    }
    if (got === 0) break;
    probed = want > left;
    await write(buffer.subarray(0, Math.min(got, left)));
    if (got > left) return void warnings.push(grewWarning(entry));
    done += got;
  }
  if (done < entry.size) {
    warnings.push(`${entry.absPath} shrank from ${entry.size} to ${done} bytes while being archived; padded with zeros`);
    buffer.fill(0);
    while (done < entry.size) {
      const n = Math.min(buffer.length, entry.size - done);
      await write(buffer.subarray(0, n));
      done += n;
    }
    return;
  }
  if (probed) return;
  let more = 0;
  try {
    more = readSync(fd, buffer, 0, 1, done);
  } catch {
    // a file that cannot be read one byte further did not grow as far as we can tell
  }
  if (more > 0) warnings.push(grewWarning(entry));
}

function grewWarning(entry: BuildEntry): string {
  return `${entry.absPath} grew while being archived; cut at ${entry.size} bytes`;
}
