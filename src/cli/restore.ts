// `hashrelay restore NAME [--at TIME|--file F] --to DIR [--raw] [--force]`: stream an archive back, verify every chunk, extract safely.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { EXIT, HashRelayError } from "../errors.ts";
import { isSlug } from "../config/slug.ts";
import { archiveIdOf, chunkIdHex, type ManifestEntry } from "../archive/manifest.ts";
import { inflateMember } from "../archive/gzip-member.ts";
import { inflateZstdMember } from "../archive/zstd-member.ts";
import { decodeChunkPayload, decodeManifestPage } from "../protocol/binary-frames.ts";
import { FrameType, IDLE_TIMEOUT_MS } from "../protocol/constants.ts";
import type { ListedArchive } from "../protocol/messages.ts";
import type { ReceiptBody } from "../protocol/signed-document.ts";
import type { SecureSession } from "../session/secure-session.ts";
import { configPath, parseArgs } from "./args.ts";
import { openCommandSession } from "../client/command-session.ts";
import { listRemote } from "./ls.ts";
import { loadConfig, requireClient } from "../io/config-file.ts";
import { keptReceipt } from "./receipt.ts";

const TEMP_PREFIX = ".hashrelay-restore-";

/** The archive to restore: --file exactly, else the newest stored at or before --at, else the newest stored (trash only when nothing else). */
export function chooseArchive(archives: ListedArchive[], name: string, opts: { file?: string; at?: number }): ListedArchive {
  const mine = archives.filter((a) => a.name === name);
  if (opts.file !== undefined) {
    const found = mine.find((a) => a.file === opts.file);
    if (!found) throw new HashRelayError("USAGE", `the server holds no archive ${opts.file} of ${name}`, `see: hashrelay ls ${name}`);
    return found;
  }
  const byTime = [...mine].sort((a, b) => a.storedAt.localeCompare(b.storedAt));
  if (opts.at !== undefined) {
    const found = byTime.filter((a) => Date.parse(a.storedAt) <= opts.at!).at(-1);
    if (!found)
      throw new HashRelayError(
        "USAGE",
        `the server holds no archive of ${name} stored at or before ${new Date(opts.at).toISOString()}`,
        `see: hashrelay ls ${name}`,
      );
    return found;
  }
  const found = byTime.filter((a) => !a.trashed).at(-1) ?? byTime.at(-1);
  if (!found) throw new HashRelayError("USAGE", `the server holds no archive of ${name}`, "see: hashrelay ls");
  return found;
}

/** True when `entry` (as tar lists it) is absolute or climbs with a `..` component. */
export function isUnsafeEntry(entry: string): boolean {
  return entry.startsWith("/") || entry.split("/").includes("..");
}

/**
 * Sends `fetch` for the receipt's archive and receives `fetching` and its manifest pages; the chunk
 * list must hash to the receipt's archive id. With `manifestOnly` nothing follows; else every member
 * follows (receiveArchive reads them). Throws HASH_MISMATCH when the list is not the receipted one,
 * BAD_FRAME, or what the session throws.
 */
export async function receiveManifest(session: SecureSession, receipt: ReceiptBody, manifestOnly: boolean): Promise<ManifestEntry[]> {
  await session.sendControl({
    type: "fetch",
    name: receipt.name,
    file: receipt.file,
    ...(manifestOnly ? { manifestOnly: true as const } : {}),
  });
  const head = await session.expect(["fetching"], IDLE_TIMEOUT_MS);
  if (head.file !== receipt.file) throw new HashRelayError("BAD_FRAME", `asked for ${receipt.file}, the server sends ${head.file}`);
  const entries: ManifestEntry[] = [];
  while (entries.length < head.chunks) {
    const page = decodeManifestPage(await session.expectBinary(FrameType.SEALED_MANIFEST, IDLE_TIMEOUT_MS));
    if (page.firstIndex !== entries.length || entries.length + page.entries.length > head.chunks)
      throw new HashRelayError("BAD_FRAME", `manifest page at ${page.firstIndex} out of order`);
    entries.push(...page.entries);
  }
  const archiveId = archiveIdOf(entries);
  if (archiveId !== receipt.archiveId) {
    throw new HashRelayError(
      "HASH_MISMATCH",
      `${receipt.file}: the chunk list the server sends has archive id ${archiveId}, the receipt says ${receipt.archiveId}`,
      "the server's copy is not the archive this client sent",
    );
  }
  return entries;
}

/**
 * Receives `fetching`, the manifest pages and every member of `file` into `out`, checking the manifest
 * against the receipt's archive id and every member against its chunk id before it is written, then
 * the whole file against the receipt's SHA-256. Throws HASH_MISMATCH naming the member and chunk,
 * BAD_FRAME, or what the session throws.
 */
export async function receiveArchive(
  session: SecureSession,
  receipt: ReceiptBody,
  out: string,
  progress: (done: number, total: number) => void,
): Promise<void> {
  const entries = await receiveManifest(session, receipt, false);
  const whole = createHash("sha256");
  const fd = fs.openSync(out, "wx", 0o600);
  try {
    for (const [index, entry] of entries.entries()) {
      const chunk = decodeChunkPayload(await session.expectBinary(FrameType.SEALED_CHUNK, IDLE_TIMEOUT_MS));
      const named = `${receipt.file}: member ${index} (chunk ${chunkIdHex(entry.id)})`;
      if (chunk.index !== index) throw new HashRelayError("BAD_FRAME", `${named}: the server sent member ${chunk.index}`);
      let raw: Uint8Array;
      try {
        raw = chunk.member[0] === 0x1f ? inflateMember(chunk.member, entry.rawLength) : inflateZstdMember(chunk.member, entry.rawLength);
      } catch (err) {
        throw new HashRelayError(
          "HASH_MISMATCH",
          `${named} is damaged: ${(err as Error).message}`,
          "the server's copy is damaged: restore an older archive (hashrelay ls) and run hashrelay server verify on the server",
        );
      }
      if (raw.length !== entry.rawLength || !createHash("sha256").update(raw).digest().equals(Buffer.from(entry.id))) {
        throw new HashRelayError(
          "HASH_MISMATCH",
          `${named} does not hash to its chunk id`,
          "the server's copy is damaged: restore an older archive (hashrelay ls) and run hashrelay server verify on the server",
        );
      }
      fs.writeSync(fd, chunk.member);
      whole.update(chunk.member);
      progress(index + 1, entries.length);
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const sha = whole.digest("hex");
  if (sha !== receipt.fileSha256)
    throw new HashRelayError("HASH_MISMATCH", `${receipt.file}: file SHA-256 ${sha}, the receipt says ${receipt.fileSha256}`);
}

/** Lists `archive` with tar and refuses absolute or `..` entries; then extracts it into the empty folder `into`. Throws SOURCE. */
function extractSafely(archive: string, into: string): void {
  const format = archive.endsWith(".tar.zst") ? "--zstd" : "-z";
  // -P: names as stored (without it tar hides a leading "/").
  const listed = spawnSync("tar", [format, "-tPf", archive], { encoding: "utf8", maxBuffer: 1 << 30 });
  if (listed.status !== 0) throw new HashRelayError("SOURCE", `tar cannot list ${path.basename(archive)}: ${listed.stderr.trim()}`);
  const unsafe = listed.stdout.split("\n").filter((e) => e !== "" && isUnsafeEntry(e));
  if (unsafe.length > 0) {
    throw new HashRelayError(
      "SOURCE",
      `${path.basename(archive)} holds entries outside the target folder (${unsafe
        .slice(0, 3)
        .map((e) => JSON.stringify(e))
        .join(", ")}): refused, nothing extracted`,
      "use --raw to keep the archive file itself",
    );
  }
  fs.mkdirSync(into);
  const extracted = spawnSync("tar", [format, "-xpf", archive, "-C", into], { encoding: "utf8" });
  if (extracted.status !== 0)
    throw new HashRelayError("SOURCE", `tar cannot extract ${path.basename(archive)}: ${extracted.stderr.trim()}`);
}

/** DIR must be missing or empty unless --force; returns it, created. Throws USAGE. */
function prepareTarget(dir: string, force: boolean): string {
  const target = path.resolve(dir);
  if (fs.existsSync(target)) {
    if (!fs.statSync(target).isDirectory()) throw new HashRelayError("USAGE", `--to ${dir} is not a folder`);
    const present = fs.readdirSync(target).filter((e) => !e.startsWith(TEMP_PREFIX));
    if (present.length > 0 && !force)
      throw new HashRelayError(
        "USAGE",
        `--to ${dir} is not empty (${present.length} entries)`,
        "choose an empty folder, or pass --force to replace what the archive holds",
      );
  } else {
    fs.mkdirSync(target, { recursive: true, mode: 0o700 });
  }
  return target;
}

/** Moves every top-level entry of `from` into `to` (with force, replacing what is there). */
function moveIntoPlace(from: string, to: string, force: boolean): string[] {
  const moved: string[] = [];
  for (const entry of fs.readdirSync(from)) {
    const target = path.join(to, entry);
    if (fs.lstatSync(target, { throwIfNoEntry: false })) {
      if (!force) throw new HashRelayError("USAGE", `${target} exists`, "pass --force to replace it");
      fs.rmSync(target, { recursive: true, force: true });
    }
    fs.renameSync(path.join(from, entry), target);
    moved.push(entry);
  }
  return moved;
}

export async function restore(argv: string[]): Promise<number> {
  const args = parseArgs(argv, { values: ["--config", "--at", "--file", "--to"], flags: ["--raw", "--force", "--json"] }, "restore");
  const [name, ...extra] = args.positionals;
  const to = args.values.get("--to");
  if (!name || extra.length > 0 || !to)
    throw new HashRelayError("USAGE", "restore needs NAME and --to DIR", "example: hashrelay restore www --to /srv/restore");
  if (!isSlug(name)) throw new HashRelayError("USAGE", `${JSON.stringify(name)} is not a source name`, "a source name as in client.paths");
  const atText = args.values.get("--at");
  const at = atText === undefined ? undefined : Date.parse(atText);
  if (at !== undefined && Number.isNaN(at))
    throw new HashRelayError("USAGE", `--at ${JSON.stringify(atText)} is not a time`, "e.g. --at 2026-11-25T12:00:00Z");
  if (at !== undefined && args.values.has("--file")) throw new HashRelayError("USAGE", "--at and --file exclude each other");
  const force = args.flags.has("--force");
  const config = requireClient(loadConfig(configPath(args)));
  const client = config.client;
  const target = prepareTarget(to, force);

  const { session } = await openCommandSession(client);
  const temp = fs.mkdtempSync(path.join(target, TEMP_PREFIX));
  try {
    const chosen = chooseArchive(await listRemote(session, name), name, { file: args.values.get("--file"), at });
    const receipt = keptReceipt(client, name, chosen.file);
    const tty = process.stderr.isTTY;
    const archive = path.join(temp, chosen.file);
    await receiveArchive(session, receipt, archive, (done, total) => {
      if (tty && (done === total || done % 16 === 0)) process.stderr.write(`\r  ${chosen.file}: ${done}/${total} chunks verified`);
    });
    if (tty) process.stderr.write("\n");
    await session.sendControl({ type: "bye" }).catch(() => undefined);
    let placed: string[];
    if (args.flags.has("--raw")) {
      placed = moveIntoPlace(temp, target, force);
    } else {
      const tree = path.join(temp, "tree");
      extractSafely(archive, tree);
      placed = moveIntoPlace(tree, target, force);
    }
    const report = {
      name,
      file: chosen.file,
      trashed: chosen.trashed ?? false,
      to: target,
      raw: args.flags.has("--raw"),
      entries: placed,
      archiveId: receipt.archiveId,
    };
    process.stdout.write(
      args.flags.has("--json")
        ? JSON.stringify(report) + "\n"
        : `restored ${chosen.file}${chosen.trashed ? " (from trash)" : ""} into ${target}: ${placed.join(", ")} (every chunk verified against archive id ${receipt.archiveId.slice(0, 16)}…)\n`,
    );
    return EXIT.OK;
  } finally {
    session.connection.close();
    fs.rmSync(temp, { recursive: true, force: true });
  }
}
