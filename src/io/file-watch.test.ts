import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { watchFile } from "./file-watch.ts";

function temp(): string {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-watch-")));
}

/** Counts onChange calls; `until(n)` waits for the n-th, failing after timeoutMs. */
function counter() {
  let calls = 0;
  return {
    hit: () => void calls++,
    get calls() {
      return calls;
    },
    async until(n: number, timeoutMs = 2000): Promise<number> {
      const started = Date.now();
      while (calls < n) {
        if (Date.now() - started > timeoutMs) throw new Error(`only ${calls} of ${n} calls after ${timeoutMs} ms`);
        await Bun.sleep(10);
      }
      return Date.now() - started;
    },
  };
}

// The poll is set to one minute where the folder watch alone must see the change.
const WATCH_ONLY = { pollMs: 60_000 };

describe("watchFile", () => {
  test("an in-place write", async () => {
    const file = path.join(temp(), "c.yaml");
    fs.writeFileSync(file, "a\n");
    const seen = counter();
    const watch = watchFile(file, seen.hit, WATCH_ONLY);
    try {
      fs.appendFileSync(file, "b\n");
      expect(await seen.until(1)).toBeLessThan(1000);
    } finally {
      watch.close();
    }
  });

  test("an atomic replace (temp file renamed over it, as git and editors do); other files in the folder are ignored", async () => {
    const dir = temp();
    const file = path.join(dir, "c.yaml");
    fs.writeFileSync(file, "a\n");
    const seen = counter();
    const watch = watchFile(file, seen.hit, WATCH_ONLY);
    try {
      fs.writeFileSync(path.join(dir, "other.yaml"), "x\n");
      await Bun.sleep(300);
      expect(seen.calls).toBe(0);
      fs.writeFileSync(path.join(dir, ".c.yaml.tmp"), "b\n");
      fs.renameSync(path.join(dir, ".c.yaml.tmp"), file);
      await seen.until(1);
    } finally {
      watch.close();
    }
  });

  test("a symlink re-pointed, then its new target edited in another folder", async () => {
    const dir = temp();
    fs.mkdirSync(path.join(dir, "v1"));
    fs.mkdirSync(path.join(dir, "v2"));
    fs.writeFileSync(path.join(dir, "v1", "web01.yaml"), "a\n");
    fs.writeFileSync(path.join(dir, "v2", "web01.yaml"), "b\n");
    const link = path.join(dir, "hashrelay.yaml");
    fs.symlinkSync(path.join(dir, "v1", "web01.yaml"), link);
    const seen = counter();
    const watch = watchFile(link, seen.hit, WATCH_ONLY);
    try {
      fs.symlinkSync(path.join(dir, "v2", "web01.yaml"), path.join(dir, "next.yaml"));
      fs.renameSync(path.join(dir, "next.yaml"), link);
      await seen.until(1);
      await Bun.sleep(200);
      fs.appendFileSync(path.join(dir, "v2", "web01.yaml"), "c\n");
      await seen.until(2);
      fs.appendFileSync(path.join(dir, "v1", "web01.yaml"), "old target\n");
      await Bun.sleep(300);
      expect(seen.calls).toBe(2);
    } finally {
      watch.close();
    }
  });

  test("the poll catches what no watched folder shows: a symlinked folder swapped above the file", async () => {
    const dir = temp();
    for (const v of ["v1", "v2"]) {
      fs.mkdirSync(path.join(dir, v));
      fs.writeFileSync(path.join(dir, v, "c.yaml"), `${v}\n`);
    }
    fs.symlinkSync(path.join(dir, "v1"), path.join(dir, "current"));
    const seen = counter();
    const watch = watchFile(path.join(dir, "current", "c.yaml"), seen.hit, { pollMs: 100 });
    try {
      fs.symlinkSync(path.join(dir, "v2"), path.join(dir, "current.new"));
      fs.renameSync(path.join(dir, "current.new"), path.join(dir, "current"));
      await seen.until(1);
    } finally {
      watch.close();
    }
  });

  test("a burst of writes is one call after it ends; nothing after close", async () => {
    const file = path.join(temp(), "c.yaml");
    fs.writeFileSync(file, "0\n");
    const seen = counter();
    // The debounce outlasts the burst (~200 ms) many times over: a loaded machine that stretches a 10 ms
    // sleep past the debounce would split the burst, which is not what this test is about.
    const watch = watchFile(file, seen.hit, { debounceMs: 1500, maxDelayMs: 10_000, pollMs: 60_000 });
    for (let i = 1; i <= 20; i++) {
      fs.writeFileSync(file, `${i}\n`);
      await Bun.sleep(10);
    }
    await seen.until(1);
    await Bun.sleep(300);
    expect(seen.calls).toBe(1);
    watch.close();
    fs.writeFileSync(file, "after\n");
    await Bun.sleep(300);
    expect(seen.calls).toBe(1);
  });

  test("a burst longer than maxDelay still calls within maxDelay", async () => {
    const file = path.join(temp(), "c.yaml");
    fs.writeFileSync(file, "0\n");
    const seen = counter();
    const watch = watchFile(file, seen.hit, { debounceMs: 100, maxDelayMs: 300, pollMs: 60_000 });
    try {
      const started = Date.now();
      while (seen.calls === 0 && Date.now() - started < 2000) {
        fs.writeFileSync(file, `${Date.now()}\n`);
        await Bun.sleep(20);
      }
      expect(seen.calls).toBe(1);
      expect(Date.now() - started).toBeLessThan(800);
    } finally {
      watch.close();
    }
  });
});
