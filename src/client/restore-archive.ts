// What `hashrelay restore` does: choose the archive, receive it verified into a temp folder, extract it safely, move it into place.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { EXIT, HashRelayError } from "../errors.ts";
import { loadConfig, requireClient, type ClientConfig } from "../io/config-file.ts";
import type { ListedArchive } from "../protocol/messages.ts";
import type { SecureSession } from "../session/secure-session.ts";
import { anchorOf, vouchedKeyOf, type AnchorKeys, type ArchiveAnchor } from "./archive-anchor.ts";
import { checkChunkList, receiveMembers, receivePages } from "./archive-fetch.ts";
import { listRemote, openCommandSession } from "./command-session.ts";
import { findKeptReceipt } from "./kept-receipt.ts";
import { serverPins } from "./pinned-keys.ts";

const TEMP_PREFIX = ".hashrelay-restore-";

/** `hashrelay restore` as its flags asked, checked for form (src/cli/restore.ts). */
export interface RestoreRequest {
  configFile: string;
  name: string;
  to: string;
  at?: number;
  file?: string;
  raw: boolean;
  force: boolean;
  json: boolean;
  /** `--client-key`: the public key of the client that made the backup, kept offline (it anchors manifests it signed). */
  clientKey?: string;
}

/** Exit 0 restored; throws HASH_MISMATCH or SOURCE (1) on a damaged or refused archive, USAGE (2), SERVER_DOWN (3), UNAUTHORIZED (4). */
export async function restoreArchive(request: RestoreRequest): Promise<number> {
  const { client } = requireClient(loadConfig(request.configFile));
  const vouchedKey = vouchedKeyOf(request.clientKey);
  const target = prepareTarget(request.to, request.force);
  const { session, clientKey } = await openCommandSession(client, request.configFile);
  const temp = fs.mkdtempSync(path.join(target, TEMP_PREFIX));
  try {
    const keys = { client: session.clientName, serverKey: client.serverKey, ownKey: clientKey, vouchedKey };
    const { chosen, anchor, archive } = await fetchVerified(session, client, keys, request, temp);
    const placed = request.raw
      ? moveIntoPlace(temp, target, request.force)
      : moveIntoPlace(extractSafely(archive, path.join(temp, "tree")), target, request.force);
    const { archiveId } = anchor.receipt;
    const report = {
      name: request.name,
      file: chosen.file,
      trashed: chosen.trashed ?? false,
      to: target,
      raw: request.raw,
      entries: placed,
      archiveId,
      anchor: anchor.kind,
      anchoredBy: anchor.says,
    };
    process.stdout.write(
      request.json
        ? JSON.stringify(report) + "\n"
        : `restored ${chosen.file}${chosen.trashed ? " (from trash)" : ""} into ${target}: ${placed.join(", ")} (every chunk verified against archive id ${archiveId.slice(0, 16)}…, anchored by ${anchor.says})\n`,
    );
    return EXIT.OK;
  } finally {
    session.connection.close();
    fs.rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * Lists, chooses and receives the archive into `temp`: its chunk list checked against its anchor (the kept
 * receipt, else what the server keeps beside it), every member against its chunk id, the file against the
 * receipt's SHA-256 (progress on a terminal).
 */
async function fetchVerified(
  session: SecureSession,
  client: ClientConfig["client"],
  keys: AnchorKeys,
  request: RestoreRequest,
  temp: string,
): Promise<{ chosen: ListedArchive; anchor: ArchiveAnchor; archive: string }> {
  const chosen = chooseArchive(await listRemote(session, request.name), request.name, { file: request.file, at: request.at });
  const kept = findKeptReceipt(client, serverPins(client), request.name, chosen.file);
  const { head, entries } = await receivePages(session, chosen, false);
  const anchor = anchorOf(kept, head, chosen, keys);
  checkChunkList(entries, anchor.receipt);
  const tty = process.stderr.isTTY;
  const archive = path.join(temp, chosen.file);
  const fd = fs.openSync(archive, "wx", 0o600);
  try {
    await receiveMembers(session, entries, anchor.receipt, {
      failFast: true,
      write: (member) => fs.writeSync(fd, member),
      progress: (done, total) => {
        if (tty && (done === total || done % 16 === 0)) process.stderr.write(`\r  ${chosen.file}: ${done}/${total} chunks verified`);
      },
    });
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  if (tty) process.stderr.write("\n");
  await session.sendControl({ type: "bye" }).catch(() => undefined);
  return { chosen, anchor, archive };
}

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

/** Lists `archive` with tar and refuses absolute or `..` entries; then extracts it into the new folder `into` and returns it. Throws SOURCE. */
function extractSafely(archive: string, into: string): string {
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
  return into;
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
