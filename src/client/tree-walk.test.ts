import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { walkSource, type LastWalk } from "./offer-walk.ts";
import { listWalk } from "../testing/walk-list.ts";
import { fingerprintOf } from "./upload/source-offer.ts";
import { compileExcludes } from "./exclude-patterns.ts";
import { compareTarPaths } from "../archive/tar.ts";

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "hr-walk-"));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** Creates files (string content) and folders (null) under root. */
function tree(spec: Record<string, string | null>): void {
  for (const [path, content] of Object.entries(spec)) {
    const abs = join(root, path);
    if (content === null) mkdirSync(abs, { recursive: true });
    else {
      mkdirSync(join(abs, ".."), { recursive: true });
      writeFileSync(abs, content);
    }
  }
}

const paths = async (source: string, exclude: string[] = []) => (await listWalk(source, exclude)).entries.map((e) => e.path);

async function thrown(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error("expected a rejection");
}

describe("walkSource", () => {
  /** A LastWalk over segments with these tar header fields; `closed` tells whether the walk closed it. */
  function lastOf(headers: { size: number; mtime: number }[]): LastWalk & { closed: boolean } {
    let i = 0;
    const key = new Uint8Array(16);
    const last = {
      closed: false,
      segments: { next: () => (i < headers.length ? { path: new Uint8Array(0), key, length: 512, header: headers[i++]! } : null) },
      streamBytes: 123_456,
      close: () => void (last.closed = true),
    };
    return last;
  }

  test("told the last archive's entries, it stops at the first that differs (no digest), else walks to the end", async () => {
    tree({ "s/a.txt": "a", "s/b/c.txt": "c", "s/d.txt": "d", "s/e/f.txt": "f", "s/g.txt": "g" });
    const source = join(root, "s");
    const listed = await listWalk(source);
    const headers = listed.entries.map((e) => ({ size: e.size, mtime: e.mtime }));
    const unchanged = lastOf(headers);
    expect(await walkSource(source, [], unchanged)).toMatchObject({ digest: listed.digest, count: headers.length });
    expect(unchanged.closed).toBe(true);
    // the fourth entry (s/b/c.txt) had another size, the fifth another mtime: the walk stops at the fourth,
    // with the last archive's size as its estimate
    const changed = lastOf(headers.map((h, i) => (i === 3 ? { ...h, size: h.size + 1 } : i === 4 ? { ...h, mtime: h.mtime - 1 } : h)));
    expect(await walkSource(source, [], changed)).toEqual({ digest: null, count: 4, tarBytes: 123_456, skipped: [] });
    expect(changed.closed).toBe(true);
    expect(await walkSource(source, [], lastOf(headers.map((h, i) => (i === 4 ? { ...h, mtime: h.mtime - 1 } : h))))).toMatchObject({
      digest: null,
      count: 5,
    });
    // an entry added at the end: the last archive ends first
    expect(await walkSource(source, [], lastOf(headers.slice(0, -1)))).toMatchObject({ digest: null, count: headers.length });
  });

  test("a folder gives its base name first, then everything inside, folder entries before their content", async () => {
    tree({ "www/index.html": "<h1>", "www/a/x.txt": "x", "www/a-b": "ab", "www/a.txt": "a", "www/empty": null, "www/a/z/deep.txt": "d" });
    const walked = await listWalk(join(root, "www"));
    expect(walked.entries.map((e) => e.path)).toEqual([
      "www",
      "www/a",
      "www/a/x.txt",
      "www/a/z",
      "www/a/z/deep.txt",
      "www/a-b",
      "www/a.txt",
      "www/empty",
      "www/index.html",
    ]);
    expect([...walked.entries.map((e) => e.path)].sort(compareTarPaths)).toEqual(walked.entries.map((e) => e.path));
    expect(walked.entries.map((e) => e.type)).toEqual(["dir", "dir", "file", "dir", "file", "file", "file", "dir", "file"]);
    expect(walked.entries.find((e) => e.path === "www/index.html")).toMatchObject({ size: 4, absPath: join(root, "www/index.html") });
    expect(walked.entries.find((e) => e.path === "www/a")!.size).toBe(0);
    expect(walked.skipped).toEqual([]);
  });

  test("metadata: mode bits, owner names, integer-second mtime", async () => {
    tree({ "s/secret": "k", "s/tool": "#!/bin/sh\n" });
    chmodSync(join(root, "s/secret"), 0o600);
    chmodSync(join(root, "s/tool"), 0o4755);
    utimesSync(join(root, "s/secret"), 1_600_000_000.75, 1_600_000_000.75);
    utimesSync(join(root, "s/tool"), new Date(-5500), new Date(-5500));
    const { entries } = await listWalk(join(root, "s"), []);
    const byPath = Object.fromEntries(entries.map((e) => [e.path, e]));
    // Owned by whoever runs the test (root in CI), named as `id` names them.
    const id = (flag: string) => Bun.spawnSync(["id", flag]).stdout.toString().trim();
    const owner = { uid: Number(id("-u")), uname: id("-un"), gid: Number(id("-g")), gname: id("-gn") };
    expect(byPath["s/secret"]).toMatchObject({ mode: 0o600, mtime: 1_600_000_000, ...owner });
    expect(byPath["s/tool"]).toMatchObject({ mode: 0o4755, mtime: -6 });
  });

  test("a file source gives one entry named after it", async () => {
    tree({ "etc/hosts": "127.0.0.1 localhost\n" });
    const { entries } = await listWalk(join(root, "etc/hosts"), ["*"]);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ path: "hosts", type: "file", size: 20 });
  });

  test("symlinks inside are stored as symlinks, never followed; the source itself is followed", async () => {
    tree({ "outside/big.bin": "not to be archived", "src/real/file": "f" });
    symlinkSync(join(root, "outside"), join(root, "src/to-outside"));
    symlinkSync("does/not/exist", join(root, "src/dangling"));
    symlinkSync(join(root, "src"), join(root, "alias"));
    const { entries } = await listWalk(join(root, "alias"), []);
    expect(entries.map((e) => e.path)).toEqual(["alias", "alias/dangling", "alias/real", "alias/real/file", "alias/to-outside"]);
    expect(entries.find((e) => e.path === "alias/dangling")).toMatchObject({ type: "symlink", linkTarget: "does/not/exist", size: 0 });
    expect(entries.find((e) => e.path === "alias/to-outside")).toMatchObject({ type: "symlink", linkTarget: join(root, "outside") });
  });

  test("FIFOs and names that are not UTF-8 are skipped and reported", async () => {
    tree({ "src/keep.txt": "k" });
    expect(Bun.spawnSync(["mkfifo", join(root, "src/pipe")]).exitCode).toBe(0);
    writeFileSync(Buffer.concat([Buffer.from(join(root, "src/bad-")), Buffer.from([0xff, 0xfe])]), "x");
    const walked = await listWalk(join(root, "src"));
    expect(walked.entries.map((e) => e.path)).toEqual(["src", "src/keep.txt"]);
    expect(walked.skipped).toContain(`${join(root, "src/pipe")} (fifo)`);
    expect(walked.skipped.some((s) => s.includes("bad-") && s.includes("not valid UTF-8"))).toBe(true);
  });

  test('a missing source is SOURCE "source /x does not exist"', async () => {
    const err = await thrown(walkSource(join(root, "nope"), []));
    expect(err.code).toBe("SOURCE");
    expect(err.message).toBe(`source ${join(root, "nope")} does not exist`);
    symlinkSync(join(root, "nope"), join(root, "dangling-source"));
    expect((await thrown(walkSource(join(root, "dangling-source"), []))).message).toContain("does not exist");
  });
});

describe("excludes", () => {
  beforeEach(() => {
    tree({
      "s/app.log": "",
      "s/deep/er/x.log": "",
      "s/keep.txt": "",
      "s/cache/c.bin": "",
      "s/sub/cache/c.bin": "",
      "s/sub/cache.txt": "",
      "s/other/cache": "a file named cache",
      "s/logs/old/1": "",
      "s/logs/new/1": "",
      "s/a/logs/old/1": "",
      "s/tmp/t": "",
      "s/x/y/tmp/t": "",
      "s/build/out/o": "",
      "s/a.txt": "",
      "s/b.txt": "",
      "s/c.txt": "",
    });
  });

  test("'*.log' matches a base name at any depth", async () => {
    const got = await paths(join(root, "s"), ["*.log"]);
    expect(got).not.toContain("s/app.log");
    expect(got).not.toContain("s/deep/er/x.log");
    expect(got).toContain("s/deep/er");
    expect(got).toContain("s/keep.txt");
  });

  test("'cache/' matches folders named cache at any depth, not files", async () => {
    const got = await paths(join(root, "s"), ["cache/"]);
    expect(got.filter((p) => p.includes("cache"))).toEqual(["s/other/cache", "s/sub/cache.txt"]);
  });

  test("a '/' inside anchors the pattern at the source root", async () => {
    const got = await paths(join(root, "s"), ["logs/old"]);
    expect(got).not.toContain("s/logs/old");
    expect(got).not.toContain("s/logs/old/1");
    expect(got).toContain("s/logs/new/1");
    expect(got).toContain("s/a/logs/old/1");
    expect(await paths(join(root, "s"), ["/keep.txt"])).not.toContain("s/keep.txt");
  });

  test("'**' spans folders; '?' and '[...]' match one character", async () => {
    const got = await paths(join(root, "s"), ["**/tmp", "build/**", "[ab].txt"]);
    expect(got.filter((p) => p.includes("tmp"))).toEqual([]);
    expect(got).toContain("s/x/y");
    expect(got).toContain("s/build");
    expect(got).not.toContain("s/build/out");
    expect(got).not.toContain("s/a.txt");
    expect(got).toContain("s/c.txt");
    expect(await paths(join(root, "s"), ["?.txt"])).not.toContain("s/b.txt");
  });

  test("negation and empty patterns are CONFIG errors", async () => {
    for (const bad of ["", "!keep.txt", "/"]) {
      expect(() => compileExcludes([bad])).toThrow(expect.objectContaining({ code: "CONFIG" }));
    }
    expect((await thrown(walkSource(join(root, "s"), ["!x"]))).code).toBe("CONFIG");
  });
});

describe("unreadable files and folders", () => {
  // Tests run as root, which reads everything; so the walk is run in a child process
  // with privileges dropped to nobody (setpriv). Without root or setpriv this is skipped loudly.
  const canDrop = process.getuid?.() === 0 && Bun.which("setpriv") !== null;
  if (!canDrop) console.warn("SKIPPED: unreadable-path tests need root and setpriv to run the walk as nobody");

  function walkAsNobody(source: string): { code?: string; message?: string; ok?: boolean } {
    const script = `
      import { walkSource } from ${JSON.stringify(join(import.meta.dir, "offer-walk.ts"))};
      try { await walkSource(${JSON.stringify(source)}, []); console.log(JSON.stringify({ ok: true })); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
    const run = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", script], {
      cwd: "/",
    });
    expect(run.stderr.toString()).toBe("");
    return JSON.parse(run.stdout.toString());
  }

  test.skipIf(!canDrop)("a file that cannot be read fails with its exact path", () => {
    tree({ "s/ok.txt": "ok", "s/secret.txt": "s" });
    chmodSync(root, 0o755);
    chmodSync(join(root, "s/secret.txt"), 0o000);
    expect(walkAsNobody(join(root, "s"))).toEqual({ code: "SOURCE", message: `permission denied: ${join(root, "s/secret.txt")}` });
  });

  test.skipIf(!canDrop)("read rights follow the one class that applies: an owner without read is refused even when others may read", () => {
    tree({ "s/mine.txt": "m", "s/open.txt": "o" });
    chmodSync(root, 0o755);
    chownSync(join(root, "s/mine.txt"), 65534, 65534);
    chmodSync(join(root, "s/mine.txt"), 0o044);
    chmodSync(join(root, "s/open.txt"), 0o604);
    expect(walkAsNobody(join(root, "s"))).toEqual({ code: "SOURCE", message: `permission denied: ${join(root, "s/mine.txt")}` });
    chmodSync(join(root, "s/mine.txt"), 0o400);
    expect(walkAsNobody(join(root, "s"))).toEqual({ ok: true });
  });

  test.skipIf(!canDrop)("a folder that cannot be listed fails with its exact path", () => {
    tree({ "s/private/key": "k" });
    chmodSync(root, 0o755);
    chmodSync(join(root, "s/private"), 0o700);
    expect(walkAsNobody(join(root, "s"))).toEqual({ code: "SOURCE", message: `permission denied: ${join(root, "s/private")}` });
    chmodSync(join(root, "s/private"), 0o755);
    expect(walkAsNobody(join(root, "s"))).toEqual({ ok: true });
  });
});

describe("fingerprints", () => {
  test("stable when nothing changes; changes with content (same mtime), mode, names and what else shapes the archive", async () => {
    tree({ "s/a.txt": "aaaa", "s/b/c.txt": "c" });
    const source = { path: join(root, "s"), name: "s", exclude: [], line: 1, col: 1 };
    const print = async (name = "s") => fingerprintOf((await walkSource(source.path, [])).digest!, { ...source, name }, "tar.gz");
    const first = await print();
    expect(await print()).toBe(first);
    expect(await print("y")).not.toBe(first);
    expect(fingerprintOf((await walkSource(source.path, [])).digest!, source, "tar.zst")).not.toBe(first);
    // the walk's summary and its list agree: the digest covers every entry listed
    expect((await listWalk(source.path)).digest).toBe((await walkSource(source.path, [])).digest!);

    utimesSync(join(root, "s/a.txt"), 1_000_000, 1_000_000);
    const touched = await print();
    expect(touched).not.toBe(first);
    await Bun.sleep(20);
    writeFileSync(join(root, "s/a.txt"), "bbbb");
    utimesSync(join(root, "s/a.txt"), 1_000_000, 1_000_000);
    const rewritten = await print();
    expect(rewritten).not.toBe(touched); // same size and mtime: ctime (and only ctime) tells

    chmodSync(join(root, "s/b/c.txt"), 0o600);
    const chmodded = await print();
    expect(chmodded).not.toBe(rewritten);
    writeFileSync(join(root, "s/new.txt"), "");
    expect(await print()).not.toBe(chmodded);
  });
});
