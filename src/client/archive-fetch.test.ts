// Receiving a fetched archive's members: checked in batches off the main thread, at most a window of bytes in flight, written in order, stopped at the first damaged member.
import { describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { encodeGzipMember } from "../archive/gzip-member.ts";
import type { ManifestEntry } from "../archive/manifest.ts";
import { checkMembers, type MemberKeep } from "../archive/member-check.ts";
import { deflateRaw } from "../io/compress.ts";
import { encodeChunkPayload } from "../protocol/binary-frames.ts";
import type { ReceiptBody } from "../protocol/signed-document.ts";
import type { SecureSession } from "../session/secure-session.ts";
import { receiveMembers } from "./archive-fetch.ts";
import { MemberCheckers, type MemberChecker, type ReceivedMember } from "./member-checkers.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest();

/** An archive of `count` chunks of 32-64 KiB (half text, half noise), its entries and receipt; `damage` flips a byte inside member k. */
function archive(count: number, damage?: number) {
  const raws = Array.from({ length: count }, (_, i) => {
    const length = 32 * 1024 + ((i * 7919) % (32 * 1024));
    return i % 2
      ? new Uint8Array(randomBytes(length))
      : new TextEncoder().encode(`line ${i}\n`.repeat(Math.ceil(length / 6)).slice(0, length));
  });
  const members = raws.map((raw) => encodeGzipMember(raw, deflateRaw));
  if (damage !== undefined) members[damage]![Math.floor(members[damage]!.length / 2)]! ^= 0x40;
  const entries: ManifestEntry[] = raws.map((raw) => ({ id: new Uint8Array(sha256(raw)), rawLength: raw.length }));
  const whole = createHash("sha256");
  for (const m of members) whole.update(m);
  const receipt = { file: "backup-t.tar.gz", fileSha256: whole.digest("hex") } as ReceiptBody;
  return { raws, members, entries, receipt };
}

/** A session that hands out the members as CHUNK frames, as fast as asked. */
function sessionOf(members: Uint8Array[]): SecureSession {
  let next = 0;
  return { expectBinary: async () => encodeChunkPayload({ index: next, member: members[next++]! }) } as unknown as SecureSession;
}

/** Checks on this thread (what the worker runs), each batch answered on a later turn. */
const inThread: MemberChecker = {
  check: async (batch: ReceivedMember[], keep: MemberKeep) => {
    await Promise.resolve();
    const members = batch.map((b) => b.member);
    const ids = new Uint8Array(Buffer.concat(batch.map((b) => b.entry.id)));
    const rawLengths = batch.map((b) => b.entry.rawLength);
    return checkMembers({ kind: "check-members", job: 0, members, rawLengths, ids, keep });
  },
  close: () => undefined,
};

const concat = (parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

describe("receiveMembers", () => {
  test("a slow writer holds the raw bytes in flight to the window; every raw byte is written once, in order", async () => {
    const a = archive(120);
    const written: Uint8Array[] = [];
    let writes = 0;
    let peak = 0;
    const window = 512 * 1024;
    const got = await receiveMembers(sessionOf(a.members), a.entries, a.receipt, {
      failFast: true,
      keep: "raw",
      checker: inThread,
      windowBytes: window,
      inFlight: (bytes) => (peak = Math.max(peak, bytes)),
      write: async (pieces) => {
        for (let i = 0; i < 5; i++) await Promise.resolve();
        written.push(...pieces);
        writes++;
      },
    });
    expect(got).toEqual({ checked: 120, problems: [] });
    expect(concat(written)).toEqual(concat(a.raws));
    // 120 chunks are ~5.6 MiB: without the window everything would be in flight
    expect(peak).toBeLessThanOrEqual(window);
    expect(peak).toBeGreaterThan(window / 2);
    expect(writes).toBeGreaterThan(4);
  });

  test("a damaged member mid-stream throws HASH_MISMATCH naming it; nothing from it on is written", async () => {
    const a = archive(60, 41);
    const written: Uint8Array[] = [];
    const receiving = receiveMembers(sessionOf(a.members), a.entries, a.receipt, {
      failFast: true,
      keep: "raw",
      checker: inThread,
      windowBytes: 512 * 1024,
      write: (pieces) => void written.push(...pieces),
    });
    await expect(receiving).rejects.toMatchObject({
      code: "HASH_MISMATCH",
      message: expect.stringContaining("backup-t.tar.gz: member 41 (chunk "),
    });
    const out = concat(written);
    // streamed: earlier batches went out before the damage was found, and none of member 41's
    expect(out.length).toBeGreaterThan(0);
    expect(out).toEqual(concat(a.raws).subarray(0, out.length));
    expect(out.length).toBeLessThanOrEqual(concat(a.raws.slice(0, 41)).length);
  });

  test("without failFast every member is read, each problem named, the rest counted", async () => {
    const a = archive(20, 7);
    const got = await receiveMembers(sessionOf(a.members), a.entries, a.receipt, { failFast: false, checker: inThread });
    expect(got.checked).toBe(19);
    expect(got.problems).toHaveLength(1);
    expect(got.problems[0]).toContain("member 7 (chunk ");
  });

  test("on the worker threads, raw: inflated into reused buffers, every raw byte written once, in order; damage still found", async () => {
    // 120 chunks are ~5.6 MiB: batches of 1 MiB at most, so output buffers are released and given again
    const a = archive(120);
    const written: Uint8Array[] = [];
    const got = await receiveMembers(sessionOf(a.members), a.entries, a.receipt, {
      failFast: true,
      keep: "raw",
      write: (raws) => void written.push(...raws.map((r) => r.slice())),
    });
    expect(got).toEqual({ checked: 120, problems: [] });
    expect(concat(written)).toEqual(concat(a.raws));
    const damaged = archive(30, 17);
    const receiving = receiveMembers(sessionOf(damaged.members), damaged.entries, damaged.receipt, {
      failFast: true,
      keep: "raw",
      write: () => undefined,
    });
    await expect(receiving).rejects.toMatchObject({ code: "HASH_MISMATCH", message: expect.stringContaining("member 17 (chunk ") });
  });

  test("a member alone in its buffer but for its index and a byte of slack (a decrypted frame) moves to the worker, uncopied", async () => {
    const a = archive(3);
    const checker = new MemberCheckers();
    try {
      const received = a.members.map((member, i) => {
        // as Bun's decipher leaves it: the frame's 4-byte index, the member, one spare byte
        const frame = new Uint8Array(4 + member.length + 1);
        frame.set(member, 4);
        return { member: frame.subarray(4, 4 + member.length), entry: a.entries[i]! };
      });
      const shared = new Uint8Array(4 + a.members[0]!.length + 64);
      shared.set(a.members[0]!, 4);
      received.push({ member: shared.subarray(4, 4 + a.members[0]!.length), entry: a.entries[0]! });
      const { problems } = await checker.check(received, "none");
      expect(problems).toEqual([]);
      // moved: detached here; copied: still readable
      expect(received.slice(0, 3).map((r) => r.member.buffer.byteLength)).toEqual([0, 0, 0]);
      expect(shared.buffer.byteLength).toBeGreaterThan(0);
    } finally {
      checker.close();
    }
  });

  test("on the worker threads by default: the members as received come back, making up the file", async () => {
    const a = archive(12);
    const written: Uint8Array[] = [];
    const got = await receiveMembers(sessionOf(a.members), a.entries, a.receipt, { failFast: true, write: (m) => void written.push(...m) });
    expect(got.checked).toBe(12);
    expect(sha256(concat(written)).toString("hex")).toBe(a.receipt.fileSha256!);
  });
});
