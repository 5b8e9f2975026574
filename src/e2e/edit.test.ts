// End to end: `hashrelay -add` / `-remove` edit the YAML in place: golden files, concurrent edits, refusals, help.
import { describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ensureBinary, runBinary, tempDir } from "../testing/e2e-harness.ts";

const TESTDATA = path.resolve(import.meta.dir, "..", "config", "testdata");

/** A copy of testdata/commented.yaml (a client config full of comments), mode 0640. */
function commentedCopy(): string {
  const file = path.join(tempDir("edit"), "hashrelay.yaml");
  fs.copyFileSync(path.join(TESTDATA, "commented.yaml"), file);
  fs.chmodSync(file, 0o640);
  return file;
}

const golden = (name: string) => fs.readFileSync(path.join(TESTDATA, name), "utf8");

function run(args: string[], cwd?: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(ensureBinary(), args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("close", (status) => resolve({ status, stdout, stderr }));
  });
}

describe("hashrelay -add / -remove", () => {
  test("-add on a file full of comments: the result is the golden file (only the added lines differ), mode kept", () => {
    const file = commentedCopy();
    const added = runBinary(["-add", "/usr", "--config", file]);
    expect(added.stderr).toBe("");
    expect(added.status).toBe(0);
    expect(added.stdout).toBe(
      `added /usr to ${file} as source "usr"; a running client picks the change up by itself (it watches its config file)\n`,
    );
    expect(fs.readFileSync(file, "utf8")).toBe(golden("commented.add.golden.yaml"));
    expect(fs.statSync(file).mode & 0o777).toBe(0o640);
  });

  test("-a with --name and repeated --exclude, then -rm by path: golden files", () => {
    const file = commentedCopy();
    expect(runBinary(["-a", "/usr", "--name", "system", "--exclude", "*.tmp", "--exclude=share/doc/", "--config", file]).status).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toBe(golden("commented.add-options.golden.yaml"));
    const removed = runBinary(["-rm", "/usr", "--config", file]);
    expect(removed.status).toBe(0);
    expect(removed.stdout).toContain('removed /usr (source "system")');
    expect(removed.stdout).toContain("its archives stay on the server");
    expect(fs.readFileSync(file, "utf8")).toBe(golden("commented.yaml"));
    expect(runBinary(["-remove", "/etc", "--config", file]).status).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toBe(golden("commented.remove-etc.golden.yaml"));
  });

  test("a relative path is resolved against the current folder and written absolute; HASHRELAY_CONFIG is honoured", () => {
    const file = commentedCopy();
    const cwd = tempDir("edit-cwd");
    fs.mkdirSync(path.join(cwd, "photos"));
    const added = runBinary(["-a", "photos"], { cwd, env: { HASHRELAY_CONFIG: file } });
    expect(added.status).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toContain(`    - ${path.join(cwd, "photos")}\n    # - /home`);
    expect(runBinary(["-rm", "photos"], { cwd, env: { HASHRELAY_CONFIG: file } }).status).toBe(0);
    expect(fs.readFileSync(file, "utf8")).toBe(golden("commented.yaml"));
  });

  test("refusals leave the file untouched and say why: missing path, already listed, name taken, not listed, the only source", () => {
    const file = commentedCopy();
    const missing = runBinary(["-add", "no/such/dir", "--config", file], { cwd: "/tmp" });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain(
      "no/such/dir does not exist (relative paths are resolved against the current folder: /tmp/no/such/dir)",
    );

    const twice = runBinary(["-add", "/etc", "--config", file]);
    expect(twice.status).toBe(2);
    expect(twice.stderr).toContain(`/etc is already listed in ${file} (source "etc", line 18)`);

    const dir = tempDir("www");
    const clash = runBinary(["-add", dir, "--name", "www", "--config", file]);
    expect(clash.status).toBe(2);
    expect(clash.stderr).toContain('source name "www" is already used by client.paths[1] (line 22)');
    expect(clash.stderr).toContain("--name NAME");

    const unknown = runBinary(["-rm", "/srv/nothing", "--config", file]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain(`/srv/nothing is not listed in ${file}`);
    expect(unknown.stderr).toContain("listed: /etc (etc), /var/www (www)");
    expect(fs.readFileSync(file, "utf8")).toBe(golden("commented.yaml"));

    expect(runBinary(["-rm", "www", "--config", file]).status).toBe(0); // a source name works too
    const last = runBinary(["-rm", "--name", "etc", "--config", file]);
    expect(last.status).toBe(2);
    expect(last.stderr).toContain("is the only source");
    const noFile = runBinary(["-add", "/usr", "--config", "/nonexistent/hashrelay.yaml"]);
    expect(noFile.status).toBe(2);
    expect(noFile.stderr).toContain("cannot edit config /nonexistent/hashrelay.yaml: ENOENT");
  });

  test("an invalid file is not edited: its errors are shown", () => {
    const file = commentedCopy();
    const broken = fs.readFileSync(file, "utf8").replace('schedule: "30 2 * * *"', 'schedule: "sometimes"');
    fs.writeFileSync(file, broken);
    const run = runBinary(["-add", "/usr", "--config", file]);
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`${file}:13:13: client.schedule:`);
    expect(fs.readFileSync(file, "utf8")).toBe(broken);
  });

  test("two -add at the same moment from two processes: both entries present (three rounds)", async () => {
    for (let round = 0; round < 3; round++) {
      const file = commentedCopy();
      const dirs = [tempDir("one"), tempDir("two")];
      const results = await Promise.all(dirs.map((d) => run(["-add", d, "--config", file])));
      expect(results.map((r) => r.status)).toEqual([0, 0]);
      const text = fs.readFileSync(file, "utf8");
      for (const d of dirs) expect(text).toContain(`    - ${d}\n`);
      expect(fs.readdirSync(path.dirname(file))).toEqual(["hashrelay.yaml"]); // no lock or temp file left
    }
  });

  test("help: -h lists -add and -remove with examples; help -add shows its options", () => {
    const help = runBinary(["-h"]);
    expect(help.stdout).toContain("hashrelay -add|-a PATH");
    expect(help.stdout).toContain("hashrelay -remove|-rm PATH");
    expect(help.stdout).toContain("e.g. hashrelay -add /var/www --name www");
    for (const target of ["-add", "-a", "add"]) {
      const one = runBinary(["help", target]);
      expect(one.status).toBe(0);
      expect(one.stdout).toContain("--exclude PATTERN");
      expect(one.stdout).toContain("resolved against the current folder");
    }
    expect(runBinary(["-rm", "--help"]).stdout).toContain("--name NAME");
    expect(runBinary(["help", "frobnicate"]).status).toBe(2);
  });
});
