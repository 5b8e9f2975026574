import { afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gunzipSync } from "node:zlib";
import type { Logger } from "../../io/log.ts";
import { ChunkWorkers } from "../chunk-workers.ts";
import type { BuiltChunk } from "../archive-builder.ts";
import { ChunkChoice } from "./chunk-choice.ts";
import { OutgoingPage } from "./page-builder.ts";
import { ProofAnswers } from "./proof-answers.ts";

// A first backup's choice (no last archive, no base) with real worker threads and a real proof file: a
// page of three chunks, the last repeating the first.

let workers: ChunkWorkers | null = null;
afterEach(() => workers?.close());

const text = (n: number, seed: string) => new TextEncoder().encode(`${seed} line of text\n`.repeat(Math.ceil(n / 20)).slice(0, n));

function builtChunk(index: number, raw: Uint8Array): BuiltChunk {
  const id = new Uint8Array(createHash("sha256").update(raw).digest());
  return { index, id, idHex: "", rawLength: raw.length, raw, member: null, reused: null, oldSpan: null };
}

/** The page of `raws` as cut (each view's bytes overwritten right after, as the builder's buffers are). */
function cutPage(choice: ChunkChoice, raws: Uint8Array[]): OutgoingPage {
  const page = new OutgoingPage(0);
  const scratch = new Uint8Array(64 * 1024);
  raws.forEach((raw, index) => {
    scratch.set(raw);
    const { kept } = choice.atCut(builtChunk(index, scratch.subarray(0, raw.length)));
    scratch.fill(0);
    page.entries.push({ id: new Uint8Array(createHash("sha256").update(raw).digest()), rawLength: raw.length });
    page.kept.push(kept);
  });
  return page;
}

function choiceWithProofs(): ChunkChoice {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "chunk-choice-")), "proofs.sqlite");
  const log: Logger = { log: () => undefined };
  const proofs = ProofAnswers.open(file, log, "www");
  workers = new ChunkWorkers("tar.gz", proofs.secret);
  return new ChunkChoice(null, null, workers, proofs);
}

const raws = [text(40 * 1024, "first"), text(30 * 1024, "second"), text(40 * 1024, "first")];
const inflated = (payload: Uint8Array) => new Uint8Array(gunzipSync(payload.subarray(4)));

test("a chunk repeating an earlier one of the archive is not compressed when the server does not ask for it", async () => {
  const choice = choiceWithProofs();
  const page = cutPage(choice, raws);
  const early = page.kept.map((k) => (k.kind === "early" ? k : null));
  const works = await Promise.all(early.map((k) => k!.job));
  expect(works.map((w) => w.payload !== null)).toEqual([true, true, false]);
  const outcomes = await Promise.all(choice.outcomesOf(page, new Set([0, 1])));
  expect(outcomes.map((o) => o.frame !== undefined)).toEqual([true, true, false]);
  // the repeat's blocks are the first's: the new source index records both
  expect(outcomes[2]!.blocks).toEqual(outcomes[0]!.blocks);
});

test("a repeat asked for all the same travels whole, with its own index, from the bytes kept", async () => {
  const choice = choiceWithProofs();
  const page = cutPage(choice, raws);
  const outcomes = await Promise.all(choice.outcomesOf(page, new Set([0, 1, 2])));
  const frame = outcomes[2]!.frame!;
  expect(new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint32(0, false)).toBe(2);
  expect(inflated(frame.payload) as Uint8Array<ArrayBufferLike>).toEqual(raws[2]!);
  expect(inflated(outcomes[0]!.frame!.payload) as Uint8Array<ArrayBufferLike>).toEqual(raws[0]!);
});
