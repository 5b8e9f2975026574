// Archive file names: backup-NAME-SS-MM-HH-YYYY-MM-DD.tar.gz or .tar.zst (UTC, second-minute-hour-year-month-day).
import { HashRelayError } from "../errors.ts";

/** Longest source name: keeps the whole file name (plus a temp suffix) well under 255 bytes. */
export const MAX_SOURCE_NAME = 200;
const NAME_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const FILE_PATTERN = /^backup-(.+)-(\d{2})-(\d{2})-(\d{2})-(\d{4})-(\d{2})-(\d{2})\.(tar\.gz|tar\.zst)$/;

/** The two archive formats: gzip members (default) or zstd members. */
export type ArchiveFormat = "tar.gz" | "tar.zst";

/**
 * True when `name` can be a source name in a file name: 1..200 ASCII letters, digits, ".",
 * "_" or "-", starting and ending with a letter or digit, no "..". Slugify's output qualifies.
 */
export function isValidSourceName(name: string): boolean {
  return name.length <= MAX_SOURCE_NAME && NAME_PATTERN.test(name) && !name.includes("..");
}

/** "backup-NAME-SS-MM-HH-YYYY-MM-DD.tar.gz" for `at` in UTC (milliseconds dropped). Throws CONFIG on an invalid name or a year outside 0..9999. */
export function archiveFileName(name: string, at: Date, format: ArchiveFormat = "tar.gz"): string {
  if (!isValidSourceName(name)) {
    throw new HashRelayError(
      "CONFIG",
      `source name ${JSON.stringify(name)} cannot be used in an archive file name`,
      "use letters, digits, dashes, dots or underscores (at most 200), starting and ending with a letter or digit",
    );
  }
  const year = at.getUTCFullYear();
  if (Number.isNaN(at.getTime()) || year < 0 || year > 9999) {
    throw new HashRelayError("CONFIG", `archive time ${String(at)} cannot be written as YYYY`);
  }
  const two = (n: number) => String(n).padStart(2, "0");
  const now = [
    two(at.getUTCSeconds()),
    two(at.getUTCMinutes()),
    two(at.getUTCHours()),
    String(year).padStart(4, "0"),
    two(at.getUTCMonth() + 1),
    two(at.getUTCDate()),
  ].join("-");
  return `backup-${name}-${now}.${format}`;
}

/**
 * Inverse of archiveFileName: the name and the UTC second, or null unless `file` is exactly
 * that shape with a valid name (so no "/", no "..") and a real calendar time. The timestamp
 * is read from the right, so names may contain "-".
 */
export function parseArchiveFileName(file: string): { name: string; at: Date; format: ArchiveFormat } | null {
  const match = FILE_PATTERN.exec(file);
  if (!match) return null;
  const [, name, ss, mi, hh, yyyy, mo, dd, format] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    ArchiveFormat,
  ];
  if (!isValidSourceName(name)) return null;
  const [second, minute, hour, year, month, day] = [ss, mi, hh, yyyy, mo, dd].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const at = new Date(0);
  at.setUTCFullYear(year, month - 1, day);
  at.setUTCHours(hour, minute, second, 0);
  const roundTrips =
    at.getUTCFullYear() === year &&
    at.getUTCMonth() === month - 1 &&
    at.getUTCDate() === day &&
    at.getUTCHours() === hour &&
    at.getUTCMinutes() === minute &&
    at.getUTCSeconds() === second;
  return roundTrips ? { name, at, format } : null;
}
