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
  answers.record([1, 2, 3, 4, 5].map(idOf), 1000);
  answers.close();
  for (let n = 1; n <= 5; n++) expect(other.left(idOf(n))).toBe(PROOF_ROUNDS);
  expect(other.take(idOf(5))!.token).toEqual(tokens(5).subarray(0, PROOF_TOKEN_BYTES));
  other.close();
  expect(logs).toEqual([]);
});
