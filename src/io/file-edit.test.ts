import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { editFileLocked } from "./file-edit.ts";

function temp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-edit-"));
}

describe("editFileLocked", () => {
  test("replaces the file with the edited text, keeping its mode (whatever the umask)", async () => {
    const dir = temp();
    const file = path.join(dir, "c.yaml");
    fs.writeFileSync(file, "a\n");
    fs.chmodSync(file, 0o664);
    const inode = fs.statSync(file).ino;
    const result = await editFileLocked(file, (t) => t + "b\n");
    expect(fs.readFileSync(file, "utf8")).toBe("a\nb\n");
    expect(fs.statSync(file).mode & 0o7777).toBe(0o664);
    expect(fs.statSync(file).ino).not.toBe(inode); // replaced by rename, not rewritten in place
    expect(result).toEqual({ target: file, before: "a\n", after: "a\nb\n" });
    expect(fs.readdirSync(dir)).toEqual(["c.yaml"]); // no temp or lock file left
  });

  test("keeps owner and group when run as root", async () => {
    if (process.getuid?.() !== 0) return;
    const file = path.join(temp(), "c.yaml");
    fs.writeFileSync(file, "a\n");
    fs.chownSync(file, 4321, 8765);
    await editFileLocked(file, (t) => t + "b\n");
    expect([fs.statSync(file).uid, fs.statSync(file).gid]).toEqual([4321, 8765]);
  });

  test("through a symlink: the target is replaced and the link stays a link", async () => {
    const dir = temp();
    fs.mkdirSync(path.join(dir, "repo"));
    const target = path.join(dir, "repo", "web01.yaml");
    fs.writeFileSync(target, "a\n");
    const link = path.join(dir, "hashrelay.yaml");
    fs.symlinkSync(target, link);
    const result = await editFileLocked(link, (t) => t + "b\n");
    expect(result.target).toBe(target);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(target, "utf8")).toBe("a\nb\n");
  });

  test("an edit that throws leaves the file and the folder untouched", async () => {
    const dir = temp();
    const file = path.join(dir, "c.yaml");
    fs.writeFileSync(file, "a\n");
    await expect(
      editFileLocked(file, () => {
        throw new Error("no");
      }),
    ).rejects.toThrow("no");
    expect(fs.readFileSync(file, "utf8")).toBe("a\n");
    expect(fs.readdirSync(dir)).toEqual(["c.yaml"]);
  });

  test("twenty concurrent edits lose nothing", async () => {
    const file = path.join(temp(), "c.yaml");
    fs.writeFileSync(file, "");
    await Promise.all(Array.from({ length: 20 }, (_, i) => editFileLocked(file, (t) => t + `line ${i}\n`)));
    expect(fs.readFileSync(file, "utf8").trim().split("\n").sort()).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i}`).sort());
  });

  test("a change made behind the lock's back is not overwritten: the edit runs again on the new text", async () => {
    const file = path.join(temp(), "c.yaml");
    fs.writeFileSync(file, "a\n");
    let calls = 0;
    await editFileLocked(file, (t) => {
      calls++;
      if (calls === 1) fs.writeFileSync(file, "a\nby vim\n"); // another editor, without the lock
      return t + "b\n";
    });
    expect(calls).toBe(2);
    expect(fs.readFileSync(file, "utf8")).toBe("a\nby vim\nb\n");
  });

  test("a lock left by a dead process is taken over; a live holder makes us wait, then give up with its pid", async () => {
    const dir = temp();
    const file = path.join(dir, "c.yaml");
    fs.writeFileSync(file, "a\n");
    const dead = spawnSync("true").pid;
    fs.writeFileSync(path.join(dir, ".c.yaml.lock"), `${dead}\n`);
    await editFileLocked(file, (t) => t + "b\n");
    expect(fs.readFileSync(file, "utf8")).toBe("a\nb\n");

    fs.writeFileSync(path.join(dir, ".c.yaml.lock"), `${process.pid}\n`);
    const started = Date.now();
    await expect(editFileLocked(file, (t) => t + "c\n", { lockTimeoutMs: 300 })).rejects.toThrow(`being edited by process ${process.pid}`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(fs.readFileSync(file, "utf8")).toBe("a\nb\n");
  });

  test("a missing file is ENOENT", async () => {
    await expect(editFileLocked(path.join(temp(), "none.yaml"), (t) => t)).rejects.toMatchObject({ code: "ENOENT" });
  });
});
