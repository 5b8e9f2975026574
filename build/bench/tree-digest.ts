// Test aids for the bench's data sets: a scratch folder, and a tree's files by content hash.
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/** A new empty folder under the system's temporary folder. */
export function scratchDir(prefix = "hashrelay-bench-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Relative path → SHA-256 of the content, for every file under root. */
export function treeDigest(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rel of fs.readdirSync(root, { recursive: true }) as string[]) {
    const abs = path.join(root, rel);
    if (fs.statSync(abs).isFile()) out.set(rel, createHash("sha256").update(fs.readFileSync(abs)).digest("hex"));
  }
  return out;
}
