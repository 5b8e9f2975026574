// Proof of storage from the client's side (PROTOCOL.md §14): challenge members with unspent answers, and make fresh answers from the local source.
import { HashRelayError } from "../errors.ts";
import { chunkIdHex, type ManifestEntry } from "../archive/manifest.ts";
import { IDLE_TIMEOUT_MS, MAX_PROOF_ITEMS, PROOF_ROUNDS } from "../protocol/constants.ts";
import type { ProofMessage, ProveItem } from "../protocol/messages.ts";
import { answerMatches, isGmacRound, proofNonce, proofTokens } from "../protocol/proof.ts";
import type { SourceConfig } from "../config/parse-config.ts";
import type { SecureSession } from "../session/secure-session.ts";
import type { FetchTarget } from "./archive-fetch.ts";
import { buildArchive } from "./archive-builder.ts";
import type { ProofRows, ProofStore } from "./proof-store.ts";
import { TreeWalk } from "./tree-walk.ts";

/**
 * Challenges `picks` members of the archive over the session and checks the answers against the
 * kept ones. Spends one proof round per challenged member. Returns the members answered right and
 * the problems (wrong answer, or the server's reason it could not answer). Throws what the session throws.
 */
export async function challenge(
  session: SecureSession,
  proofs: ProofStore,
  target: FetchTarget,
  entries: ManifestEntry[],
  picks: number[],
): Promise<{ proven: number; withoutProof: number; problems: string[] }> {
  const asked: (ProveItem & { token: Uint8Array })[] = [];
  let withoutProof = 0;
  const rounds = proofs.takeEach(picks.map((index) => entries[index]!.id));
  for (const [i, index] of picks.entries()) {
    const id = entries[index]!.id;
    const round = rounds[i];
    if (!round) {
      withoutProof++;
      continue;
    }
    const nonce = Buffer.from(proofNonce(proofs.secret, id, round.round)).toString("hex");
    asked.push({ index, nonce, ...(isGmacRound(round.round) ? { gmac: true as const } : {}), token: round.token });
  }
  let proven = 0;
  const problems: string[] = [];
  for (let at = 0; at < asked.length; at += MAX_PROOF_ITEMS) {
    const batch = asked.slice(at, at + MAX_PROOF_ITEMS);
    await session.sendControl({
      type: "prove",
      name: target.name,
      file: target.file,
      items: batch.map(({ token: _token, ...item }) => item),
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
export async function refreshFromSource(source: SourceConfig, proofs: ProofStore, wanted: Set<string>, nowMs: number): Promise<number> {
  const walk = await TreeWalk.open(source.path, source.exclude);
  let refreshed = 0;
  // Recorded in batches: each add is one durable (fsynced) transaction.
  let batch: ProofRows[] = [];
  const record = () => {
    proofs.add(batch, nowMs);
    refreshed += batch.length;
    batch = [];
  };
  await buildArchive(walk, {
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
