// Sending an archive's members back for a restore: read in runs into reused buffers, each frame its index and the member's span.
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { FrameType } from "../protocol/constants.ts";
import type { SentMember } from "../store/archive-reader.ts";
import type { ArchiveSource } from "../store/store.ts";
import { sendMembers } from "./archive-fetch.ts";
import type { SessionScope } from "./session-context.ts";

/** A file of `count` members of 1 B to 200 KiB, each after 0-40 bytes of "fillers" (every third has none). */
function fileOf(count: number) {
  const members: SentMember[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    const lead = i % 3 === 0 ? 0 : (i * 13) % 41;
    const length = 1 + ((i * 104_729) % (200 * 1024));
    members.push({ id: "", offset: at + lead, length, rawLength: length, lead });
    at += lead + length;
  }
  return { members, bytes: new Uint8Array(randomBytes(at)) };
}

/** A source reading `bytes`, each read answered a few turns later (as a file read is, while frames go out). */
function sourceOf(file: ReturnType<typeof fileOf>): ArchiveSource {
  return {
    members: () => file.members,
    readInto: async (offset: number, into: Uint8Array) => {
      for (let i = 0; i < 3; i++) await Promise.resolve();
      into.set(file.bytes.subarray(offset, offset + into.length));
    },
  } as unknown as ArchiveSource;
}

describe("sendMembers", () => {
  test("every member goes as one CHUNK frame in order: its index, then the fillers before it and itself, as the file holds them", async () => {
    const file = fileOf(60);
    const frames: Uint8Array[] = [];
    // the plaintext is sealed (copied) at the call, as SecureSession does; the send itself takes a turn
    const session = {
      sendBinary: async (type: number, payload: Uint8Array) => {
        expect(type).toBe(FrameType.SEALED_CHUNK);
        frames.push(payload.slice());
        await Promise.resolve();
      },
    } as unknown as SessionScope["session"];
    await sendMembers(session, sourceOf(file));
    expect(frames).toHaveLength(60);
    for (const [i, m] of file.members.entries()) {
      expect(new DataView(frames[i]!.buffer).getUint32(0, false)).toBe(i);
      expect(frames[i]!.subarray(4)).toEqual(file.bytes.subarray(m.offset - m.lead, m.offset + m.length));
    }
  });
});
