// Preloaded by `bun test` (bunfig.toml): in the gate's own temp folder, what a test file left there goes once the next file starts.
//
// bun test runs every file in one process and fires no exit hook, so temp folders (sources of tens of
// MiB, stores, client state) piled up over the run: a machine with little free disk could fill up
// before the last files. The gate points TMPDIR at a folder of its own and names it in
// HASHRELAY_TEST_TMPDIR; only then does this act, so a `bun test` run beside other work touches no one
// else's files. Files run one after another: what the folder held when a file's last test ended is
// that file's (or an earlier one's), and is removed when a test of the file after next starts: a whole
// file later, so that work a test left running (a background write) is not cut short; what later files
// made is not in that list. Mount points are left alone. The gate removes the folder itself at the end.
import { afterEach, beforeEach } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ownFolder = process.env.HASHRELAY_TEST_TMPDIR;
if (ownFolder && path.resolve(os.tmpdir()) === path.resolve(ownFolder)) {
  let currentFile = Bun.main;
  let leftByLastTest: string[] = [];
  /** What the folder held when the file before the last one ended: removed when the next file starts. */
  let leftByFileBefore: string[] = [];
  afterEach(() => {
    leftByLastTest = fs.readdirSync(ownFolder);
  });
  beforeEach(() => {
    if (Bun.main === currentFile) return;
    currentFile = Bun.main;
    remove(ownFolder, leftByFileBefore);
    leftByFileBefore = leftByLastTest;
    leftByLastTest = [];
  });
}

/** Removes `names` from `folder`, except mount points (a test's mount left behind). Never throws. */
function remove(folder: string, names: readonly string[]): void {
  const device = fs.statSync(folder).dev;
  for (const name of names) {
    const entry = path.join(folder, name);
    const stats = fs.lstatSync(entry, { throwIfNoEntry: false });
    if (stats && stats.dev === device) spawnSync("rm", ["-rf", "--one-file-system", entry]);
  }
}
