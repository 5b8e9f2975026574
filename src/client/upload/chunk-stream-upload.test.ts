// Whole chunks as one stream end to end in memory (PROTOCOL.md §8.10): the client's side, granted or not.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FrameType } from "../../protocol/constants.ts";
import { StreamGrants } from "../../server/stream-grants.ts";
import { backupWorld, WORLD_CLIENT } from "../../testing/backup-world.ts";
import type { TracedFrame } from "../../testing/session-trace.ts";
import type { WholeChunkChoice } from "./whole-chunks.ts";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** Config-like files, alike but not equal: each compresses well alone, better with the others as context. */
const files = Object.fromEntries(
  Array.from({ length: 12 }, (_, f) => [
    `host-${f}.conf`,
    Array.from({ length: 3000 }, (_, i) => `host${f}.option_${i} = ${(i * 7919) % 100_003} # shared note ${i % 13}\n`).join(""),
  ]),
);

const sentTypes = (frames: readonly TracedFrame[]) => frames.flatMap((f) => (f.dir === "sent" && f.kind === "binary" ? [f.type] : []));

/** A first backup of `files` with whole chunks as `choice`, the server granting `grants` streams: result, frames, what was restored. */
async function firstBackup(choice: WholeChunkChoice, grants = new StreamGrants(1)) {
  const w = await backupWorld(roots, {}, undefined, grants);
  for (const [name, body] of Object.entries(files)) writeFileSync(join(w.source.path, name), body);
  w.ctx.wholeChunks = choice;
  const { result, frames } = await w.backup();
  expect(result).toMatchObject({ status: "sent" });
  const out = join(w.root, "restored");
  mkdirSync(out);
  expect(spawnSync("tar", ["-xzf", join(w.root, "storage", WORLD_CLIENT, result.archive!), "-C", out]).status).toBe(0);
  for (const [name, body] of Object.entries(files)) expect(readFileSync(join(out, "data", name), "utf8")).toBe(body);
  await w.close();
  expect(w.logs.filter((line) => line.startsWith("error"))).toEqual([]);
  return { result, types: sentTypes(frames) };
}

describe("whole chunks as a stream", () => {
  test("granted: every whole chunk goes in the stream, fewer bytes than members, and the archive restores with tar", async () => {
    const members = await firstBackup("members");
    expect(members.types).toContain(FrameType.SEALED_CHUNK);
    expect(members.types).not.toContain(FrameType.SEALED_CHUNK_STREAM);
    const streamed = await firstBackup("stream");
    expect(streamed.types).toContain(FrameType.SEALED_CHUNK_STREAM);
    expect(streamed.types).not.toContain(FrameType.SEALED_CHUNK);
    expect(streamed.result.chunksSent).toBe(members.result.chunksSent);
    expect(streamed.result.bytesSent).toBeLessThan(members.result.bytesSent * 0.8);
  });

  test("wanted but not granted (the server's streams all taken): the chunks read raw go as members", async () => {
    const refused = await firstBackup("stream", new StreamGrants(0));
    expect(refused.types).toContain(FrameType.SEALED_CHUNK);
    expect(refused.types).not.toContain(FrameType.SEALED_CHUNK_STREAM);
  });
});
