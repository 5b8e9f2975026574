import { describe, expect, test, beforeEach, afterEach } from "bun:test";
import { mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsyncDir, renameDurable, writeFileAtomic } from "./atomic-file.ts";

let dir = "";
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "hr-atomic-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeFileAtomic", () => {
  test("creates the file with the content and mode asked, and leaves no temp file", async () => {
    const path = join(dir, "a.json");
    await writeFileAtomic(path, '{"x":1}', 0o600);
    expect(await readFile(path, "utf8")).toBe('{"x":1}');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(["a.json"]);
  });

  test("replaces an existing file whole", async () => {
    const path = join(dir, "a.bin");
    await writeFile(path, "old content that is longer");
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(path))]).toEqual([1, 2, 3]);
    expect(await readdir(dir)).toEqual(["a.bin"]);
  });

  test("default mode is 0644", async () => {
    const path = join(dir, "b.txt");
    await writeFileAtomic(path, "x");
    // umask may only remove bits
    expect((await stat(path)).mode & 0o777 & ~0o644).toBe(0);
  });

  test("a failed rename (target is a folder) throws and removes its temp file", async () => {
    const target = join(dir, "taken");
    await mkdir(join(target, "inner"), { recursive: true });
    await expect(writeFileAtomic(target, "data")).rejects.toThrow();
    expect(await readdir(dir)).toEqual(["taken"]);
  });

  test("a missing folder throws ENOENT", async () => {
    await expect(writeFileAtomic(join(dir, "nope", "f"), "x")).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("renameDurable / fsyncDir", () => {
  test("moves a file across folders", async () => {
    await mkdir(join(dir, "a"));
    await mkdir(join(dir, "b"));
    await writeFile(join(dir, "a", "f"), "payload");
    await renameDurable(join(dir, "a", "f"), join(dir, "b", "g"));
    expect(await readdir(join(dir, "a"))).toEqual([]);
    expect(await readFile(join(dir, "b", "g"), "utf8")).toBe("payload");
  });

  test("a missing source throws and leaves the target alone", async () => {
    await writeFile(join(dir, "keep"), "k");
    await expect(renameDurable(join(dir, "absent"), join(dir, "keep"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(await readFile(join(dir, "keep"), "utf8")).toBe("k");
  });

  test("fsyncDir fails on a missing folder", async () => {
    await fsyncDir(dir);
    await expect(fsyncDir(join(dir, "missing"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});
