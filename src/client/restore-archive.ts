// What `hashrelay restore` does: choose the archive, receive, verify and extract it at once into a temp folder, move it into place.
import fs from "node:fs";
import path from "node:path";
import { EXIT, HashRelayError } from "../errors.ts";
import { loadConfig, requireClient, type ClientConfig } from "../io/config-file.ts";
import type { ManifestEntry } from "../archive/manifest.ts";
import type { ListedArchive } from "../protocol/messages.ts";
import type { ReceiptBody } from "../protocol/signed-document.ts";
import type { SecureSession } from "../session/secure-session.ts";
import { anchorOf, vouchedKeyOf, type AnchorKeys, type ArchiveAnchor } from "./archive-anchor.ts";
import { checkChunkList, receiveMembers, receivePages } from "./archive-fetch.ts";
import { listRemote, openCommandSession } from "./command-session.ts";
import { findKeptReceipt } from "./kept-receipt.ts";
import { serverPins } from "./pinned-keys.ts";
import { TarExtraction } from "./tar-extraction.ts";

const TEMP_PREFIX = ".hashrelay-restore-";
/** The folder inside the temp folder that tar extracts into. */
const TREE = "tree";

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
    const { chosen, anchor } = await fetchVerified(session, client, keys, request, temp);
    const placed = moveIntoPlace(request.raw ? temp : path.join(temp, TREE), target, request.force);
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
 * receipt's SHA-256 (progress on a terminal). With --raw the archive file is written (and synced) into
 * `temp`; else its raw bytes are extracted by tar into `temp`/TREE as they check (extractMembers).
 */
async function fetchVerified(
  session: SecureSession,
  client: ClientConfig["client"],
  keys: AnchorKeys,
  request: RestoreRequest,
  temp: string,
): Promise<{ chosen: ListedArchive; anchor: ArchiveAnchor }> {
  const chosen = chooseArchive(await listRemote(session, request.name), request.name, { file: request.file, at: request.at });
  const kept = findKeptReceipt(client, serverPins(client), request.name, chosen.file);
  const { head, entries } = await receivePages(session, chosen, false);
  const anchor = anchorOf(kept, head, chosen, keys);
  checkChunkList(entries, anchor.receipt);
  const tty = process.stderr.isTTY;
  const progress = (done: number, total: number) => {
    if (tty && (done === total || done % 16 === 0)) process.stderr.write(`\r  ${chosen.file}: ${done}/${total} chunks verified`);
  };
  const fetch = { session, entries, receipt: anchor.receipt, progress };
  if (request.raw) await writeMembers(fetch, path.join(temp, chosen.file));
  else await extractMembers(fetch, path.join(temp, TREE));
  if (tty) process.stderr.write("\n");
  await session.sendControl({ type: "bye" }).catch(() => undefined);
  return { chosen, anchor };
}

/** An archive's members to receive: after its pages, checked against `receipt`. */
interface MemberFetch {
  session: SecureSession;
  entries: ManifestEntry[];
  receipt: ReceiptBody;
  progress: (done: number, total: number) => void;
}

/** --raw: the checked members written into the new file `archive`, synced. Throws as receiveMembers. */
async function writeMembers(fetch: MemberFetch, archive: string): Promise<void> {
  const fd = fs.openSync(archive, "wx", 0o600);
  try {
    await receiveMembers(fetch.session, fetch.entries, fetch.receipt, {
      failFast: true,
      write: (members) => void fs.writevSync(fd, members),
      progress: fetch.progress,
    });
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The checked members' raw bytes (the tar stream) extracted by tar into the new folder `into` while the
 * next members arrive and check. A member that fails, an unsafe name or a tar that fails stops tar and
 * throws (HASH_MISMATCH, SOURCE): what it wrote is left in `into`, which the caller removes.
 */
async function extractMembers(fetch: MemberFetch, into: string): Promise<void> {
  const tar = new TarExtraction(into, fetch.receipt.file);
  try {
    await receiveMembers(fetch.session, fetch.entries, fetch.receipt, {
      failFast: true,
      keep: "raw",
      write: (raws) => tar.write(raws),
      progress: fetch.progress,
    });
    await tar.finish();
  } catch (err) {
    await tar.abort();
    throw err;
  }
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
