// What `hashrelay verify` does: for each archive, check the listing against the kept receipt, then challenge chunks only the real bytes can answer.
import { randomInt } from "node:crypto";
import { EXIT, HashRelayError, asHashRelayError } from "../errors.ts";
import { chunkIdHex, type ManifestEntry } from "../archive/manifest.ts";
import { IDLE_TIMEOUT_MS, MAX_PROOF_ITEMS, PROOF_ROUNDS } from "../protocol/constants.ts";
import type { ListedArchive, ProofMessage } from "../protocol/messages.ts";
import { answerMatches, missProbability, pickChallenges, proofNonce, proofTokens } from "../protocol/proof.ts";
import type { SourceConfig } from "../config/parse-config.ts";
import type { SecureSession } from "../session/secure-session.ts";
import { ClientState } from "./state.ts";
import { ProofStore, type ProofRows } from "./proof-store.ts";
import { buildArchive } from "./archive-builder.ts";
import { walkSource } from "./tree-walk.ts";
import { openCommandSession } from "./command-session.ts";
import { loadConfig, requireClient, type ClientConfig } from "../io/config-file.ts";
import { receiveManifest } from "./archive-fetch.ts";
import { keptReceipt } from "./kept-receipt.ts";
import { listRemote } from "./command-session.ts";

/** `hashrelay verify` as its flags asked, checked for form (src/cli/verify.ts). */
export interface VerifyRequest {
  configFile: string;
  /** Only this source's archives (default: every stored archive of this client). */
  name?: string;
  /** Only this archive of `name`, stored or trashed. */
  file?: string;
  deep: boolean;
  json: boolean;
}

/** The verdict on one archive. */
export interface ArchiveVerdict {
  name: string;
  file: string;
  trashed: boolean;
  /** ok: every challenge answered right; failed: the server's copy is not what was backed up; unverifiable: nothing could be challenged. */
  status: "ok" | "failed" | "unverifiable";
  chunks: number;
  /** Members challenged and answered right. */
  proven: number;
  /** Members picked that had no unspent proof answer left. */
  withoutProof: number;
  /** The first problems, each naming the member and chunk. */
  problems: string[];
  /** Chunks of the archive given fresh proof answers from the local source after the challenges. */
  refreshed: number;
}

/** Why the listing the server gives contradicts the kept receipt, or null when they agree. */
export function listingMismatch(listed: ListedArchive, receipt: { archiveId: string; fileSha256: string; size: number }): string | null {
  if (listed.archiveId !== receipt.archiveId)
    return `the server lists archive id ${listed.archiveId}, the receipt says ${receipt.archiveId}: the file was replaced`;
  if (listed.fileSha256 !== receipt.fileSha256 || listed.size !== receipt.size)
    return `the server lists ${listed.size} bytes with SHA-256 ${listed.fileSha256}, the receipt says ${receipt.size} bytes with ${receipt.fileSha256}`;
  return null;
}

/**
 * Challenges `picks` members of the archive over the session and checks the answers against the
 * kept ones. Spends one proof round per challenged member. Returns the members answered right and
 * the problems (wrong answer, or the server's reason it could not answer). Throws what the session throws.
 */
async function challenge(
  session: SecureSession,
  proofs: ProofStore,
  target: ListedArchive,
  entries: ManifestEntry[],
  picks: number[],
): Promise<{ proven: number; withoutProof: number; problems: string[] }> {
  const asked: { index: number; nonce: string; token: Uint8Array }[] = [];
  let withoutProof = 0;
  const rounds = proofs.takeEach(picks.map((index) => entries[index]!.id));
  for (const [i, index] of picks.entries()) {
    const id = entries[index]!.id;
    const round = rounds[i];
    if (!round) {
      withoutProof++;
      continue;
    }
    asked.push({ index, nonce: Buffer.from(proofNonce(proofs.secret, id, round.round)).toString("hex"), token: round.token });
  }
  let proven = 0;
  const problems: string[] = [];
  for (let at = 0; at < asked.length; at += MAX_PROOF_ITEMS) {
    const batch = asked.slice(at, at + MAX_PROOF_ITEMS);
    await session.sendControl({
      type: "prove",
      name: target.name,
      file: target.file,
      items: batch.map(({ index, nonce }) => ({ index, nonce })),
    });
    const reply: ProofMessage = await session.expect(["proof"], IDLE_TIMEOUT_MS);
    if (reply.file !== target.file || reply.answers.length !== batch.length)
      throw new HashRelayError(
        "BAD_FRAME",
        `asked ${batch.length} challenges on ${target.file}, the server answered ${reply.answers.length} on ${reply.file}`,
      );
    for (const [i, answer] of reply.answers.entries()) {
      const mine = batch[i]!;
      const named = `member ${mine.index} (chunk ${chunkIdHex(entries[mine.index]!.id).slice(0, 16)}…)`;
      if (answer.index !== mine.index)
        throw new HashRelayError("BAD_FRAME", `challenge ${at + i} was on member ${mine.index}, the server answered for ${answer.index}`);
      if ("error" in answer) problems.push(`${named}: the server cannot read it: ${answer.error}`);
      else if (!answerMatches(Buffer.from(answer.hash, "hex"), mine.token))
        problems.push(`${named}: wrong answer: the server's bytes are not the ones backed up`);
      else proven++;
    }
  }
  return { proven, withoutProof, problems };
}

/**
 * Reads `source` as a backup would (same tar stream, same chunks) and makes fresh proof answers for
 * the chunks of `wanted` (hex ids) it still produces; chunks whose files changed since are not
 * produced and stay as they are. Returns how many chunks got answers. Throws SOURCE.
 */
async function refreshFromSource(source: SourceConfig, proofs: ProofStore, wanted: Set<string>, nowMs: number): Promise<number> {
  const walked = await walkSource(source.path, source.exclude);
  let refreshed = 0;
  // Recorded in batches: each add is one durable (fsynced) transaction.
  let batch: ProofRows[] = [];
  const record = () => {
    proofs.add(batch, nowMs);
    refreshed += batch.length;
    batch = [];
  };
  await buildArchive(walked.entries, {
    compress: false,
    onChunk: (chunk) => {
      if (!chunk.raw || !wanted.delete(chunk.idHex)) return;
      const first = proofs.roundsToAdd(chunk.id);
      if (first === null) return;
      batch.push({ id: chunk.id, first, tokens: proofTokens(proofs.secret, chunk.id, chunk.raw, first, PROOF_ROUNDS) });
      if (batch.length >= 512) record();
    },
  });
  record();
  return refreshed;
}

/** Verifies one archive; a damaged or replaced copy is a "failed" verdict, never an exception. Throws what the session throws. */
async function verifyArchive(
  session: SecureSession,
  proofs: ProofStore,
  client: Parameters<typeof keptReceipt>[0],
  target: ListedArchive,
  deep: boolean,
  source: SourceConfig | undefined,
): Promise<ArchiveVerdict> {
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
  };
  let receipt;
  try {
    receipt = keptReceipt(client, target.name, target.file);
  } catch (err) {
    return { ...verdict, problems: [asHashRelayError(err).message] };
  }
  const mismatch = listingMismatch(target, receipt);
  if (mismatch) return { ...verdict, status: "failed", problems: [mismatch] };
  let entries: ManifestEntry[];
  try {
    entries = await receiveManifest(session, receipt, true);
  } catch (err) {
    const error = asHashRelayError(err);
    if (error.code !== "HASH_MISMATCH") throw error;
    return { ...verdict, status: "failed", problems: [error.message] };
  }
  const picks = pickChallenges(entries.length, deep, (n) => randomInt(n));
  const result = await challenge(session, proofs, target, entries, picks);
  const status = result.problems.length > 0 ? "failed" : result.proven > 0 || entries.length === 0 ? "ok" : "unverifiable";
  if (status === "unverifiable")
    result.problems.push(
      `none of the ${picks.length} members picked has an unspent proof answer left (answers are made when the client reads a chunk; see PROTOCOL.md §14)`,
    );
  // Answers run low on chunks that never change (a backup does not read them again): make new ones while the
  // source still holds them. Reading the source costs what a full backup read costs, so only when a picked
  // member had none left or a quarter of the archive's chunks are at half or less.
  let refreshed = 0;
  const low = new Set(entries.filter((e) => proofs.left(e.id) <= PROOF_ROUNDS / 2).map((e) => chunkIdHex(e.id)));
  if (source && status !== "failed" && (result.withoutProof > 0 || low.size * 4 >= entries.length))
    refreshed = await refreshFromSource(source, proofs, low, Date.now());
  return { ...verdict, ...result, status, chunks: entries.length, refreshed };
}

/** The text line of a verdict. */
function describe(v: ArchiveVerdict, deep: boolean): string {
  const where = v.trashed ? " (trash)" : "";
  const sampled =
    v.proven < v.chunks
      ? ` (a sample: damage to 1% of the chunks goes unseen with probability ${missProbability(v.chunks, Math.ceil(v.chunks / 100), v.proven).toFixed(2)}${deep ? "" : "; --deep challenges all"})`
      : "";
  const extra = `${v.withoutProof > 0 ? `; ${v.withoutProof} picked had no proof answer left` : ""}${v.refreshed > 0 ? `; fresh answers made for ${v.refreshed} chunks from the local source` : ""}`;
  if (v.status === "ok") return `ok            ${v.file}${where}: ${v.proven} of ${v.chunks} chunks proven${sampled}${extra}`;
  const head = v.status === "failed" ? "FAILED        " : "UNVERIFIABLE  ";
  return [
    `${head}${v.file}${where}: ${v.problems.length > 0 ? v.problems[0] : ""}`,
    ...v.problems.slice(1, 5).map((p) => `              ${p}`),
    ...(v.problems.length > 5 ? [`              … ${v.problems.length - 5} more`] : []),
  ].join("\n");
}

/** Exit 0 every archive proven; 1 one failed or could not be verified; throws USAGE (2), SERVER_DOWN (3), UNAUTHORIZED (4). */
export async function verifyArchives(request: VerifyRequest): Promise<number> {
  const { client } = requireClient(loadConfig(request.configFile));
  const proofs = ProofStore.open(new ClientState(client.state).proofsFile);
  let verdicts: ArchiveVerdict[];
  let target: string;
  try {
    ({ verdicts, target } = await challengeServer(client, proofs, request));
  } finally {
    proofs.close();
  }
  const bad = verdicts.filter((v) => v.status !== "ok");
  if (request.json) {
    process.stdout.write(JSON.stringify({ client: client.name, server: target, deep: request.deep, archives: verdicts }) + "\n");
  } else {
    const lines = [
      `verify ${client.name} on ${target}: ${verdicts.length} archive${verdicts.length === 1 ? "" : "s"}${request.deep ? ", every chunk" : ""}`,
      ...verdicts.map((v) => describe(v, request.deep)),
    ];
    if (bad.length > 0)
      lines.push(
        `${bad.length} archive${bad.length === 1 ? "" : "s"} NOT proven: restore an older one (hashrelay ls) and run hashrelay server verify on the server`,
      );
    process.stdout.write(lines.join("\n") + "\n");
  }
  return bad.length > 0 ? EXIT.SOURCE_FAILED : EXIT.OK;
}

/** Opens a session, lists the archives the request names and verifies each. Throws USAGE when none is listed, and what the session throws. */
async function challengeServer(
  client: ClientConfig["client"],
  proofs: ProofStore,
  request: VerifyRequest,
): Promise<{ verdicts: ArchiveVerdict[]; target: string }> {
  const { name, file } = request;
  const sources = new Map(client.paths.map((src) => [src.name, src]));
  const { session, target } = await openCommandSession(client);
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
    const verdicts: ArchiveVerdict[] = [];
    for (const archive of targets)
      verdicts.push(await verifyArchive(session, proofs, client, archive, request.deep, sources.get(archive.name)));
    await session.sendControl({ type: "bye" }).catch(() => undefined);
    return { verdicts, target };
  } finally {
    session.connection.close();
  }
}
