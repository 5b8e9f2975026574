import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Database } from "bun:sqlite";
import { idChanges } from "../archive/sorted-ids.ts";
import { ProofStore } from "./proof-store.ts";
import { PROOF_ROUNDS, PROOF_TOKEN_BYTES, GMAC_FIRST_ROUND } from "../protocol/constants.ts";

function tempFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), "proof-store-")), "proofs.sqlite");
}
const idA = new Uint8Array(32).fill(1);
const idB = new Uint8Array(32).fill(2);
const tokens = (fill: number) => new Uint8Array(PROOF_ROUNDS * PROOF_TOKEN_BYTES).fill(fill);

describe("ProofStore", () => {
  test("created 0600 with a secret that survives reopening", () => {
    const file = tempFile();
    const first = ProofStore.open(file);
    const secret = Buffer.from(first.secret).toString("hex");
    first.close();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const again = ProofStore.open(file);
    expect(Buffer.from(again.secret).toString("hex")).toBe(secret);
    expect(secret).not.toBe("00".repeat(32));
    again.close();
  });

  test("each round is handed out once, in order, and spent rounds stay spent after reopening", () => {
    const file = tempFile();
    const store = ProofStore.open(file);
    // a new chunk's answers are GMAC rounds (PROTOCOL.md §14); the batch below, made at round 0, is an older client's SHA-256 rounds
    expect(store.roundsToAdd(idA)).toBe(GMAC_FIRST_ROUND);
    store.add([{ id: idA, first: 0, tokens: tokens(9) }], 1000);
    expect(store.roundsToAdd(idA)).toBeNull();
    expect(store.take(idA)!.round).toBe(0);
    store.close();
    const reopened = ProofStore.open(file);
    const rounds = [];
    for (let r; (r = reopened.take(idA)); ) rounds.push(r.round);
    expect(rounds).toEqual(Array.from({ length: PROOF_ROUNDS - 1 }, (_, i) => i + 1));
    expect(reopened.take(idA)).toBeNull();
    expect(reopened.take(idB)).toBeNull();
    // a new batch starts after every round ever made, GMAC rounds at least: no nonce is asked twice
    expect(reopened.roundsToAdd(idA)).toBe(GMAC_FIRST_ROUND);
    reopened.add([{ id: idA, first: GMAC_FIRST_ROUND, tokens: tokens(3) }], 2000);
    const next = reopened.take(idA)!;
    expect(next.round).toBe(GMAC_FIRST_ROUND);
    for (let i = 1; i < PROOF_ROUNDS; i++) reopened.take(idA);
    expect(reopened.roundsToAdd(idA)).toBe(GMAC_FIRST_ROUND + PROOF_ROUNDS);
    expect([...next.token]).toEqual(new Array(PROOF_TOKEN_BYTES).fill(3));
    reopened.close();
  });

  test("takeEach spends a round per listed id in one go, twice for an id listed twice", () => {
    const store = ProofStore.open(tempFile());
    store.add([{ id: idA, first: 0, tokens: tokens(1) }], 0);
    const taken = store.takeEach([idA, idB, idA]);
    expect(taken.map((t) => t?.round ?? null)).toEqual([0, null, 1]);
    expect(store.left(idA)).toBe(PROOF_ROUNDS - 2);
    store.close();
  });

  test("refreshes a chunk once half of its rounds are spent", () => {
    const store = ProofStore.open(tempFile());
    store.add([{ id: idA, first: 0, tokens: tokens(1) }], 0);
    for (let i = 0; i < PROOF_ROUNDS / 2; i++) {
      expect(store.roundsToAdd(idA)).toBeNull();
      store.take(idA);
    }
    expect(store.roundsToAdd(idA)).toBe(GMAC_FIRST_ROUND);
    expect(store.left(idA)).toBe(PROOF_ROUNDS / 2);
    store.close();
  });

  test("prunes only chunks in no source's last archive and unseen since the cut-off", () => {
    const store = ProofStore.open(tempFile());
    store.add(
      [
        { id: idA, first: 0, tokens: tokens(1) },
        { id: idB, first: 0, tokens: tokens(2) },
      ],
      100,
    );
    expect(store.setSourceChunks("www", "a1", { all: [idA] }, 100, 0)).toBe(0);
    // later: www's last archive holds only B; A left it at 5000
    expect(store.setSourceChunks("www", "a2", { from: "a1", changes: idChanges([idA], [idB]) }, 5000, 50)).toBe(0);
    expect(store.left(idA)).toBe(PROOF_ROUNDS);
    expect(store.setSourceChunks("www", "a2", { all: [idB] }, 6000, 200)).toBe(0);
    expect(store.left(idA)).toBe(PROOF_ROUNDS);
    expect(store.setSourceChunks("www", "a2", { from: "a2", changes: [] }, 9000, 5001)).toBe(1);
    expect(store.left(idA)).toBe(0);
    expect(store.left(idB)).toBe(PROOF_ROUNDS);
    // B is in etc's last archive too: www dropping it does not prune it
    store.setSourceChunks("etc", "e1", { all: [idB] }, 6000, 0);
    expect(store.setSourceChunks("www", "a3", { from: "a2", changes: idChanges([idB], []) }, 9000, 8000)).toBe(0);
    expect(store.setSourceChunks("www", "a3", { from: "a3", changes: [] }, 99_000, 98_000)).toBe(0);
    expect(store.left(idB)).toBe(PROOF_ROUNDS);
    // etc drops it too: stamped then, pruned once that is older than the cut-off
    expect(store.setSourceChunks("etc", "e2", { all: [] }, 100_000, 0)).toBe(0);
    expect(store.setSourceChunks("etc", "e2", { from: "e2", changes: [] }, 200_000, 100_001)).toBe(1);
    expect(store.left(idB)).toBe(0);
    store.close();
  });

  test("a change is recorded only from the archive the file holds for the source", () => {
    const store = ProofStore.open(tempFile());
    store.setSourceChunks("www", "a1", { all: [idA] }, 100, 0);
    expect(store.recordedArchive("www")).toBe("a1");
    expect(() => store.setSourceChunks("www", "a3", { from: "a2", changes: idChanges([idA], [idB]) }, 200, 0)).toThrow(/holds archive a1/);
    expect(store.recordedArchive("www")).toBe("a1");
    expect(store.recordedArchive("etc")).toBeNull();
    store.close();
  });

  test("a backup that changed a few chunks writes rows for those, not for the whole archive", () => {
    const file = tempFile();
    const store = ProofStore.open(file);
    const ids = Array.from({ length: 20_000 }, (_, i) => {
      const id = new Uint8Array(32);
      new DataView(id.buffer).setUint32(0, i * 7);
      return id;
    });
    store.add(
      ids.map((id) => ({ id, first: 0, tokens: tokens(3) })),
      100,
    );
    store.setSourceChunks("www", "a1", { all: ids }, 100, 0);
    const after = [...ids.slice(0, 500), ...ids.slice(503)];
    store.setSourceChunks("www", "a2", { from: "a1", changes: idChanges(ids, after) }, 200, 0);
    store.close();
    // Before, every chunk of the archive was stamped (and its link rewritten) at every backup.
    const db = new Database(file);
    const rows = db.query("SELECT count(*) AS n FROM source_chunks WHERE source = 'www'").get() as { n: number };
    expect(rows.n).toBe(19_997);
    const stamped = db.query("SELECT count(*) AS n FROM proofs WHERE seen = 200").get() as { n: number };
    expect(stamped.n).toBe(3);
    db.close();
  });

  test("staged answers count only once added, and a connection closed before that forgets them", () => {
    const file = tempFile();
    const store = ProofStore.open(file);
    store.stage([{ id: idA, first: 0, tokens: tokens(1) }]);
    store.stage([
      { id: idA, first: 0, tokens: tokens(2) },
      { id: idB, first: 0, tokens: tokens(3) },
    ]);
    expect(store.left(idA)).toBe(0);
    store.addStaged(100);
    expect(store.take(idA)!.token).toEqual(tokens(2).subarray(0, PROOF_TOKEN_BYTES));
    expect(store.left(idB)).toBe(PROOF_ROUNDS);
    store.addStaged(200); // the stage is empty now: nothing is added twice
    expect(store.left(idA)).toBe(PROOF_ROUNDS - 1);
    const idC = new Uint8Array(32).fill(3);
    store.stage([{ id: idC, first: 0, tokens: tokens(4) }]);
    store.close();
    const reopened = ProofStore.open(file);
    reopened.addStaged(300);
    expect(reopened.left(idC)).toBe(0);
    expect(reopened.left(idB)).toBe(PROOF_ROUNDS);
    reopened.close();
  });

  test("a file that is not a proof file is refused, naming it", () => {
    const file = tempFile();
    fs.writeFileSync(file, "not sqlite at all, just text that is long enough to be read as a header ".repeat(20));
    expect(() => ProofStore.open(file)).toThrow(file);
  });
});
