import { expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Logger } from "../../io/log.ts";
import { PROOF_ROUNDS, PROOF_TOKEN_BYTES } from "../../protocol/constants.ts";
import { ProofStore } from "../proof-store.ts";
import { ProofAnswers } from "./proof-answers.ts";

const idOf = (n: number) => new Uint8Array(32).fill(n);
const tokens = (n: number) => new Uint8Array(PROOF_ROUNDS * PROOF_TOKEN_BYTES).fill(n);

test("answers go to the proof file's stage as they pile up, and all of them are recorded at the receipt", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "proof-answers-")), "proofs.sqlite");
  const logs: string[] = [];
  const log: Logger = { log: (level, message) => logs.push(`${level} ${message}`) };
  const answers = ProofAnswers.open(file, log, "www", 2);
  for (let n = 1; n <= 5; n++) answers.keep(idOf(n), 0, tokens(n));
  answers.keep(idOf(6), null, null); // nothing to keep: no answers were made
  expect(answers.held).toBe(1);
  // Staged, not recorded: another connection (hashrelay verify) does not see them yet.
  const other = ProofStore.open(file);
  expect(other.left(idOf(1))).toBe(0);
  answers.record("a1", { all: () => [1, 2, 3, 4, 5].map(idOf) }, 1000);
  answers.close();
  for (let n = 1; n <= 5; n++) expect(other.left(idOf(n))).toBe(PROOF_ROUNDS);
  expect(other.take(idOf(5))!.token).toEqual(tokens(5).subarray(0, PROOF_TOKEN_BYTES));
  other.close();
  expect(logs).toEqual([]);
});

test("the next backup records only what changed when the file holds its last archive, else every id", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "proof-answers-")), "proofs.sqlite");
  const logs: string[] = [];
  const log: Logger = { log: (level, message) => logs.push(`${level} ${message}`) };
  const first = ProofAnswers.open(file, log, "www");
  first.record("a1", { all: () => [1, 2, 3].map(idOf) }, 1000);
  first.close();
  const notCalled = () => {
    throw new Error("every id was read");
  };
  const second = ProofAnswers.open(file, log, "www");
  second.record("a2", { all: notCalled, changesFrom: { archiveId: "a1", changes: () => [{ id: idOf(4), added: true }] } }, 2000);
  second.close();
  expect(logs).toEqual([]);
  // the file holds a2 now: a change said to start from a1 is not applied; every id is read instead
  let read = false;
  const third = ProofAnswers.open(file, log, "www");
  const all = () => {
    read = true;
    return [1, 2, 4].map(idOf);
  };
  third.record("a3", { all, changesFrom: { archiveId: "a1", changes: () => [] } }, 3000);
  third.close();
  expect(read).toBe(true);
  const store = ProofStore.open(file);
  expect(store.recordedArchive("www")).toBe("a3");
  store.close();
  expect(logs).toEqual([]);
});
