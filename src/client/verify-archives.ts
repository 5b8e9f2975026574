// What `hashrelay verify` does: anchor each archive's chunk list, then challenge chunks only the real bytes can answer, or download and check every one.
import { describeDigest, sameDigest, type FileDigest } from "../protocol/file-digest.ts";
import fs from "node:fs";
import { randomInt } from "node:crypto";
import { EXIT, HashRelayError, asHashRelayError } from "../errors.ts";
import { chunkIdHex, type ManifestEntry } from "../archive/manifest.ts";
import { PROOF_ROUNDS } from "../protocol/constants.ts";
import type { ListedArchive } from "../protocol/messages.ts";
import { pickChallenges } from "../protocol/proof.ts";
import type { SourceConfig } from "../config/parse-config.ts";
import type { SecureSession } from "../session/secure-session.ts";
import { loadConfig, requireClient, type ClientConfig } from "../io/config-file.ts";
import { anchorOf, vouchedKeyOf, type AnchorKeys, type ArchiveAnchor } from "./archive-anchor.ts";
import { checkChunkList, receiveMembers, receivePages, skipMembers } from "./archive-fetch.ts";
import { listRemote, openCommandSession } from "./command-session.ts";
import { findKeptReceipt, type CheckedReceipt } from "./kept-receipt.ts";
import { serverPins, type ServerPins } from "./pinned-keys.ts";
import { challenge, refreshFromSource } from "./proof-challenges.ts";
import { ProofStore } from "./proof-store.ts";
import { ClientState } from "./state.ts";
import { describeVerdict, verifySummary, type ArchiveVerdict } from "./verify-report.ts";

export type { ArchiveVerdict } from "./verify-report.ts";

/** `hashrelay verify` as its flags asked, checked for form (src/cli/verify.ts). */
export interface VerifyRequest {
  configFile: string;
  /** Only this source's archives (default: every stored archive of this client). */
  name?: string;
  /** Only this archive of `name`, stored or trashed. */
  file?: string;
  deep: boolean;
  /** Download every chunk and check it, instead of challenging (a client without proof answers: a new machine). */
  download: boolean;
  json: boolean;
  /** `--client-key`: the public key of the client that made the backups, kept offline (it anchors manifests it signed). */
  clientKey?: string;
}

/** What every archive of one `verify` run is checked with. */
interface VerifyRun {
  session: SecureSession;
  client: ClientConfig["client"];
  pins: ServerPins;
  keys: AnchorKeys;
  /** null with --download: no challenge is made. */
  proofs: ProofStore | null;
  deep: boolean;
}

/** Why the listing the server gives contradicts the kept receipt, or null when they agree. */
export function listingMismatch(listed: ListedArchive, receipt: { archiveId: string; size: number } & FileDigest): string | null {
  if (listed.archiveId !== receipt.archiveId)
    return `the server lists archive id ${listed.archiveId}, the receipt says ${receipt.archiveId}: the file was replaced`;
  // the listing carries the kind of digest the receipt has (a scanned trash item: both)
  if (!sameDigest(receipt, listed) || listed.size !== receipt.size)
    return `the server lists ${listed.size} bytes with ${describeDigest(listed)}, the receipt says ${receipt.size} bytes with ${describeDigest(receipt)}`;
  return null;
}

/**
 * Verifies one archive: anchors its chunk list, then downloads every chunk (run.proofs null) or challenges
 * some. A damaged, replaced or unanchored copy is a verdict, never an exception. Throws what the session throws.
 */
async function verifyArchive(run: VerifyRun, target: ListedArchive, source: SourceConfig | undefined): Promise<ArchiveVerdict> {
  const verdict: ArchiveVerdict = {
    name: target.name,
    file: target.file,
    trashed: target.trashed === true,
    status: "unverifiable",
    chunks: 0,
    proven: 0,
    withoutProof: 0,
    problems: [],
    refreshed: 0,
    downloaded: run.proofs === null,
  };
  let kept: CheckedReceipt | null;
  try {
    kept = findKeptReceipt(run.client, run.pins, target.name, target.file);
  } catch (err) {
    return { ...verdict, problems: [asHashRelayError(err).message] };
  }
  const early = kept && listingMismatch(target, kept.body);
  if (early) return { ...verdict, status: "failed", problems: [early] };
  const { head, entries } = await receivePages(run.session, target, run.proofs !== null);
  let anchor: ArchiveAnchor;
  try {
    anchor = anchorOf(kept, head, target, run.keys);
    const mismatch = listingMismatch(target, anchor.receipt);
    if (mismatch) throw new HashRelayError("HASH_MISMATCH", mismatch);
    checkChunkList(entries, anchor.receipt);
  } catch (err) {
    if (run.proofs === null) await skipMembers(run.session, entries.length);
    const error = asHashRelayError(err);
    return { ...verdict, status: error.code === "USAGE" ? "unverifiable" : "failed", problems: [error.message] };
  }
  const anchored = { ...verdict, chunks: entries.length, anchor: anchor.kind, anchoredBy: anchor.says };
  if (run.proofs === null) {
    const { checked, problems } = await receiveMembers(run.session, entries, anchor.receipt, { failFast: false });
    return { ...anchored, status: problems.length > 0 ? "failed" : "ok", proven: checked, problems };
  }
  return { ...anchored, ...(await challengeArchive(run, run.proofs, target, entries, source)) };
}

/** The challenge part of a verdict: picks members, challenges them, and makes fresh answers from the source when they run low. */
async function challengeArchive(
  run: VerifyRun,
  proofs: ProofStore,
  target: ListedArchive,
  entries: ManifestEntry[],
  source: SourceConfig | undefined,
): Promise<Pick<ArchiveVerdict, "status" | "proven" | "withoutProof" | "problems" | "refreshed">> {
  const picks = pickChallenges(entries.length, run.deep, (n) => randomInt(n));
  const result = await challenge(run.session, proofs, target, entries, picks);
  const status = result.problems.length > 0 ? "failed" : result.proven > 0 || entries.length === 0 ? "ok" : "unverifiable";
  if (status === "unverifiable")
    result.problems.push(
      `none of the ${picks.length} members picked has an unspent proof answer left (answers are made when the client reads a chunk; see PROTOCOL.md §14); hashrelay verify --download checks it by downloading every chunk`,
    );
  // Answers run low on chunks that never change (a backup does not read them again): make new ones while the
  // source still holds them. Reading the source costs what a full backup read costs, so only when a picked
  // member had none left or a quarter of the archive's chunks are at half or less.
  let refreshed = 0;
  const low = new Set(entries.filter((e) => proofs.left(e.id) <= PROOF_ROUNDS / 2).map((e) => chunkIdHex(e.id)));
  if (source && status !== "failed" && (result.withoutProof > 0 || low.size * 4 >= entries.length))
    refreshed = await refreshFromSource(source, proofs, low, Date.now());
  return { ...result, status, refreshed };
}

/** Exit 0 every archive proven; 1 one failed or could not be verified; throws USAGE (2), SERVER_DOWN (3), UNAUTHORIZED (4). */
export async function verifyArchives(request: VerifyRequest): Promise<number> {
  const { client } = requireClient(loadConfig(request.configFile));
  const vouchedKey = vouchedKeyOf(request.clientKey);
  let proofs: ProofStore | null = null;
  if (!request.download) {
    fs.mkdirSync(client.state, { recursive: true, mode: 0o700 });
    proofs = ProofStore.open(new ClientState(client.state).proofsFile);
  }
  let verdicts: ArchiveVerdict[];
  let target: string;
  try {
    ({ verdicts, target } = await checkServer(client, proofs, request, vouchedKey));
  } finally {
    proofs?.close();
  }
  if (request.json) {
    const { name } = client;
    process.stdout.write(
      JSON.stringify({ client: name, server: target, deep: request.deep, download: request.download, archives: verdicts }) + "\n",
    );
  } else {
    const scope = request.download ? ", every chunk downloaded" : request.deep ? ", every chunk" : "";
    const lines = [
      `verify ${client.name} on ${target}: ${verdicts.length} archive${verdicts.length === 1 ? "" : "s"}${scope}`,
      ...verdicts.map((v) => describeVerdict(v, request.deep)),
      ...verifySummary(verdicts),
    ];
    process.stdout.write(lines.join("\n") + "\n");
  }
  return verdicts.some((v) => v.status !== "ok") ? EXIT.SOURCE_FAILED : EXIT.OK;
}

/** Opens a session, lists the archives the request names and verifies each. Throws USAGE when none is listed, and what the session throws. */
async function checkServer(
  client: ClientConfig["client"],
  proofs: ProofStore | null,
  request: VerifyRequest,
  vouchedKey: Uint8Array | undefined,
): Promise<{ verdicts: ArchiveVerdict[]; target: string }> {
  const { name, file } = request;
  const sources = new Map(client.paths.map((src) => [src.name, src]));
  const { session, target, clientKey } = await openCommandSession(client, request.configFile);
  try {
    const listed = await listRemote(session, name);
    const targets = file !== undefined ? listed.filter((a) => a.file === file) : listed.filter((a) => !a.trashed);
    if (targets.length === 0)
      throw new HashRelayError(
        "USAGE",
        file !== undefined
          ? `the server holds no archive ${file} of ${name}`
          : `the server holds no archive${name ? ` of ${name}` : ""} for ${client.name}`,
        "see: hashrelay ls",
      );
    const keys = { client: session.clientName, serverKey: client.serverKey, ownKey: clientKey, vouchedKey };
    const run: VerifyRun = { session, client, pins: serverPins(client), keys, proofs, deep: request.deep };
    const verdicts: ArchiveVerdict[] = [];
    for (const archive of targets) verdicts.push(await verifyArchive(run, archive, sources.get(archive.name)));
    await session.sendControl({ type: "bye" }).catch(() => undefined);
    return { verdicts, target };
  } finally {
    session.connection.close();
  }
}
