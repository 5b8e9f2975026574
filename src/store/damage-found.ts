// Damage found in a stored archive: the error a commit meets on a reused member, and how a finding is recorded (book, log, audit).
import { basename, dirname } from "node:path";
import { HashRelayError } from "../errors.ts";
import { chunkIdHex } from "../archive/manifest.ts";
import { parseArchiveFileName } from "../archive/naming.ts";
import type { DamagedArchive } from "./damage-book.ts";
import type { StoreContext } from "./store-context.ts";

/** What ReusedMemberDamaged names: the member's file, place and chunk (a MemberSource). */
export interface DamagedSource {
  path: string;
  offset: number;
  id: Uint8Array;
  /** Set when `path` is a stored archive (not a staging file). */
  stored?: unknown;
}

/**
 * A reused member of a stored archive whose bytes no longer have the SHA-256 recorded when it was
 * verified. HASH_MISMATCH as before, but the commit catches it: it records the member as damaged and
 * assembles again from another copy of the chunk (upload-commit.ts).
 */
export class ReusedMemberDamaged extends HashRelayError {
  constructor(
    message: string,
    readonly source: DamagedSource,
  ) {
    super(
      "HASH_MISMATCH",
      message,
      "those stored bytes changed since they were verified; the member is recorded as damaged and the next backup sends that chunk again",
    );
  }
}

/** HASH_MISMATCH: the only stored copies of a chunk an upload reuses are known damaged; the next backup is asked for it. */
export class NoIntactCopy extends HashRelayError {
  constructor(message: string) {
    super("HASH_MISMATCH", message, "its stored copy is recorded as damaged: the next backup is asked to send that chunk again");
  }
}

/**
 * Records what was found damaged in (client, file): in the damage book (durable), as archive.damaged in
 * the log, and as a `damaged` event in the audit log — the last two only when something was new.
 * Never throws.
 */
export async function recordDamage(ctx: StoreContext, found: Omit<DamagedArchive, "foundAt" | "name">): Promise<void> {
  const name = parseArchiveFileName(found.file)?.name ?? "";
  const isNew = await ctx.damage.record({ ...found, name }, ctx.now());
  if (!isNew) return;
  const first = found.members[0];
  const detail = first
    ? `member ${first.index ?? ""}${first.index === undefined ? "" : " "}at byte ${first.offset}: ${first.reason}`
    : (found.problem ?? "");
  ctx.log("error", "archive.damaged", {
    client: found.client,
    file: found.file,
    by: found.by,
    damagedMembers: found.members.length,
    first: detail,
  });
  await ctx.audit({
    event: "damaged",
    client: found.client,
    name,
    file: found.file,
    by: found.by,
    members: found.members.length,
    first: detail,
  });
}

/** Records the reused member `err` names as damaged (a stored archive's; a staging file's is not the book's). Never throws. */
export async function recordReusedDamage(ctx: StoreContext, err: ReusedMemberDamaged): Promise<void> {
  const { source } = err;
  const client = basename(dirname(source.path));
  if (!source.stored) return;
  await recordDamage(ctx, {
    client,
    file: basename(source.path),
    by: "commit",
    members: [{ offset: source.offset, chunkId: chunkIdHex(source.id), reason: "its bytes changed since they were verified" }],
  });
}
