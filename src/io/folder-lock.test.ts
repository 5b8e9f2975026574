// The folder lock: one holder at a time, across descriptors and processes; released on release() and on exit; the holder named.
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { folderLockHolder, tryLockFolder } from "./folder-lock.ts";

function temp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-lock-"));
}

describe("tryLockFolder", () => {
  test("a second taker is refused until the first releases; /proc/locks names the holder", () => {
    const dir = temp();
    const first = tryLockFolder(dir);
    expect(first).not.toBeNull();
    expect(tryLockFolder(dir)).toBeNull();
    expect(folderLockHolder(dir)).toBe(process.pid);
    first!.release();
    first!.release();
    expect(folderLockHolder(dir)).toBeNull();
    const again = tryLockFolder(dir);
    expect(again).not.toBeNull();
    again!.release();
  });

  test("another process holding it is named; its exit frees the folder", async () => {
    const dir = temp();
    // A child that takes the lock, says so, and waits for its stdin to close.
    const script = `import { tryLockFolder } from ${JSON.stringify(path.join(import.meta.dir, "folder-lock.ts"))};
const lock = tryLockFolder(${JSON.stringify(dir)});
process.stdout.write(lock ? "locked\\n" : "refused\\n");
process.stdin.on("data", () => undefined);
process.stdin.on("end", () => process.exit(0));`;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "inherit"] });
    const said = await new Promise<string>((resolve) => child.stdout!.once("data", (d: Buffer) => resolve(d.toString())));
    expect(said).toBe("locked\n");
    expect(tryLockFolder(dir)).toBeNull();
    expect(folderLockHolder(dir)).toBe(child.pid!);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.stdin!.end();
    await exited;
    const mine = tryLockFolder(dir);
    expect(mine).not.toBeNull();
    mine!.release();
  });

  test("a missing folder throws ENOENT", () => {
    expect(() => tryLockFolder(path.join(temp(), "nope"))).toThrow(/ENOENT/);
  });
});
