// Answering `prove` (a verify's challenges, PROTOCOL.md §14) from the archive's bytes on disk now.
import { inflateMember } from "../archive/gzip-member.ts";
import type { ProofMessage, ProveItem, ProveMessage } from "../protocol/messages.ts";
import { proofAnswer } from "../protocol/proof.ts";
import type { ArchiveSource } from "../store/store.ts";
import type { SessionScope } from "./session-context.ts";

/** The archive a verify is challenging, kept open between its `prove` messages. */
export interface ProvenArchive {
  name: string;
  file: string;
  source: ArchiveSource;
}

/** Opens archive `file` of `name` for challenges. Throws STORAGE when this client holds no such archive. */
export async function openProvenArchive(scope: SessionScope, name: string, file: string): Promise<ProvenArchive> {
  return { name, file, source: await scope.ctx.store.archiveToSend(scope.client, name, file) };
}

/**
 * Sends `proof` with one answer per challenge of `message`, in order; logs a warning with the first
 * error text when some member could not be answered. Throws what the session throws.
 */
export async function answerProve(scope: SessionScope, archive: ProvenArchive, message: ProveMessage): Promise<void> {
  const answers = await answerChallenges(archive.source, message.items);
  const errors = answers.flatMap((a) => ("error" in a ? [a.error] : []));
  await scope.session.sendControl({ type: "proof", file: message.file, answers });
  if (errors.length > 0)
    scope.log.log(
      "warn",
      `verify of ${scope.client}/${message.file}: ${errors.length} of ${answers.length} challenged members could not be read`,
      { name: message.name, first: errors[0] },
    );
}

/**
 * Answers each challenge from the bytes on disk now: member `index` is read where the index says it
 * is, inflated (bounded by its recorded raw length) and hashed with the nonce. A member that cannot be
 * read or inflated gets an error answer, never a guess. Never throws for a damaged member.
 */
async function answerChallenges(source: ArchiveSource, items: readonly ProveItem[]): Promise<ProofMessage["answers"]> {
  const answers: ProofMessage["answers"] = [];
  for (const { index, nonce, gmac } of items) {
    const member = source.member(index);
    if (!member) {
      answers.push({ index, error: `the archive has ${source.count} members` });
      continue;
    }
    try {
      const raw = inflateMember(await source.read(member.offset, member.length), member.rawLength);
      answers.push({ index, hash: Buffer.from(proofAnswer(Buffer.from(nonce, "hex"), raw, gmac)).toString("hex") });
    } catch (err) {
      answers.push({
        index,
        error: `member ${index} at byte ${member.offset}: ${(err as Error).message}`.slice(0, 200).replace(/[\u0000-\u001f\u007f]/g, " "),
      });
    }
  }
  return answers;
}
