// What `hashrelay restore` does: choose the archive, receive it verified into a temp folder, extract it safely, move it into place.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { EXIT, HashRelayError } from "../errors.ts";
import { loadConfig, requireClient, type ClientConfig } from "../io/config-file.ts";
import type { ListedArchive } from "../protocol/messages.ts";
import type { ReceiptBody } from "../protocol/signed-document.ts";
import type { SecureSession } from "../session/secure-session.ts";
import { openCommandSession } from "./command-session.ts";
import { receiveArchive } from "./archive-fetch.ts";
import { keptReceipt } from "./kept-receipt.ts";
import { listRemote } from "./command-session.ts";

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
}

/** Exit 0 restored; throws HASH_MISMATCH or SOURCE (1) on a damaged or refused archive, USAGE (2), SERVER_DOWN (3), UNAUTHORIZED (4). */
export async function restoreArchive(request: RestoreRequest): Promise<number> {
  const { client } = requireClient(loadConfig(request.configFile));
  const target = prepareTarget(request.to, request.force);
  const { session } = await openCommandSession(client);
  const temp = fs.mkdtempSync(path.join(target, TEMP_PREFIX));
  try {
    const { chosen, receipt, archive } = await fetchVerified(session, client, request, temp);
    const placed = request.raw
      ? moveIntoPlace(temp, target, request.force)
      : moveIntoPlace(extractSafely(archive, path.join(temp, "tree")), target, request.force);
    const report = {
      name: request.name,
      file: chosen.file,
      trashed: chosen.trashed ?? false,
      to: target,
      raw: request.raw,
      entries: placed,
      archiveId: receipt.archiveId,
    };
    process.stdout.write(
      request.json
        ? JSON.stringify(report) + "\n"
        : `restored ${chosen.file}${chosen.trashed ? " (from trash)" : ""} into ${target}: ${placed.join(", ")} (every chunk verified against archive id ${receipt.archiveId.slice(0, 16)}…)\n`,
    );
    return EXIT.OK;
  } finally {
    session.connection.close();
    fs.rmSync(temp, { recursive: true, force: true });
  }
}

/** Lists, chooses and receives the archive into `temp`, every chunk verified against the kept receipt (progress on a terminal). */
async function fetchVerified(
  session: SecureSession,
  client: ClientConfig["client"],
  request: RestoreRequest,
  temp: string,
): Promise<{ chosen: ListedArchive; receipt: ReceiptBody; archive: string }> {
  const chosen = chooseArchive(await listRemote(session, request.name), request.name, { file: request.file, at: request.at });
  const receipt = keptReceipt(client, request.name, chosen.file);
  const tty = process.stderr.isTTY;
  const archive = path.join(temp, chosen.file);
  await receiveArchive(session, receipt, archive, (done, total) => {
    if (tty && (done === total || done % 16 === 0)) process.stderr.write(`\r  ${chosen.file}: ${done}/${total} chunks verified`);
  });
  if (tty) process.stderr.write("\n");
  await session.sendControl({ type: "bye" }).catch(() => undefined);
  return { chosen, receipt, archive };
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
