// The bench's command line: options it refuses before it spends minutes on a data set.
import { afterEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const RUN = path.join(import.meta.dir, "run.ts");
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

test("--scenarios without A is refused at once: every other scenario starts from A's first backup", () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "bench-options-"));
  dirs.push(work);
  // a smoke-sized run of tar alone, should the rule be missing: C would then be timed as a first backup
  const args = [
    RUN,
    "--no-build",
    "--scale",
    "0.05",
    "--tools",
    "tar",
    "--repeats",
    "1",
    "--scenarios",
    "C",
    "--work",
    work,
    "--out",
    work,
  ];
  const r = spawnSync(process.execPath, args, { encoding: "utf8" });
  expect(r.stderr).toContain("--scenarios must include A");
  expect(r.status).toBe(2);
  expect(fs.readdirSync(work)).toEqual([]);
});
