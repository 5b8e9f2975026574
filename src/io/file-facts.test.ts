import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { formatIssue, parseConfig } from "../config/parse-config.ts";
import { realFileFacts } from "./file-facts.ts";

const K1 = "ed25519:iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=";
const isRoot = process.getuid?.() === 0;
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-file-facts-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function keyFile(name: string, mode: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, "hashrelay-ed25519-seed:AAAA\n");
  fs.chmodSync(file, mode);
  return file;
}

describe("realFileFacts.statKeyFile", () => {
  test("a missing file", () => {
    expect(realFileFacts.statKeyFile(path.join(dir, "nope.key"))).toEqual({ kind: "missing" });
  });

  test("a 0600 file and a 0644 file report their modes", () => {
    const tight = realFileFacts.statKeyFile(keyFile("tight.key", 0o600));
    const open = realFileFacts.statKeyFile(keyFile("open.key", 0o644));
    expect(tight.kind === "ok" && tight.mode & 0o7777).toBe(0o600);
    expect(open.kind === "ok" && open.mode & 0o7777).toBe(0o644);
  });

  test("a symlink loop cannot be read", () => {
    const loop = path.join(dir, "loop.key");
    fs.symlinkSync(loop, loop);
    expect(realFileFacts.statKeyFile(loop)).toEqual({ kind: "unreadable", reason: "too many symbolic links" });
  });

  test.skipIf(isRoot)("a mode 0000 file cannot be read (not as root: root reads anything)", () => {
    expect(realFileFacts.statKeyFile(keyFile("locked.key", 0o000))).toEqual({ kind: "unreadable", reason: "permission denied" });
  });
});

describe("parseConfig with real key files", () => {
  function check(clientKey: string, serverKey: string): string[] {
    const text = [
      "version: 1", //            1
      "client:", //               2
      "  server: nas.lan", //     3
      `  serverKey: ${K1}`, //    4
      `  key: ${clientKey}`, //   5: value at col 8
      "  paths: [/etc]", //       6
      "server:", //               7
      `  key: ${serverKey}`, //   8: value at col 8
      "  clients:", //            9
      "    - name: web01", //     10
      `      key: ${K1}`, //      11
      "",
    ].join("\n");
    const file = path.join(dir, "hashrelay.yaml");
    const result = parseConfig(text, file, { hostname: "h", facts: realFileFacts });
    return result.ok ? [] : result.issues.map(formatIssue);
  }

  test("missing and mode 0644 keys, found relative to the config's folder", () => {
    keyFile("server-open.key", 0o644);
    const cfg = path.join(dir, "hashrelay.yaml");
    const missing = path.join(dir, "client-missing.key");
    const open = path.join(dir, "server-open.key");
    expect(check("./client-missing.key", "server-open.key")).toEqual([
      `${cfg}:5:8: client.key: private key ${missing} does not exist (create it with: hashrelay keygen --out ${missing})`,
      `${cfg}:8:8: server.key: private key ${open} is readable by group or others (mode 0644) (chmod 600 ${open})`,
    ]);
  });

  test("a symlink loop and a folder", () => {
    const loop = path.join(dir, "loop2.key");
    fs.symlinkSync(loop, loop);
    fs.mkdirSync(path.join(dir, "keys"));
    const cfg = path.join(dir, "hashrelay.yaml");
    expect(check("loop2.key", "keys")).toEqual([
      `${cfg}:5:8: client.key: private key ${loop} cannot be read: too many symbolic links (make it readable by the user hashrelay runs as, then chmod 600 ${loop})`,
      `${cfg}:8:8: server.key: private key ${path.join(dir, "keys")} is not a regular file (point server.key at the key file, or create one with: hashrelay keygen --out FILE)`,
    ]);
  });

  test.skipIf(isRoot)("a mode 0000 key", () => {
    const locked = keyFile("locked2.key", 0o000);
    keyFile("ok.key", 0o600);
    const cfg = path.join(dir, "hashrelay.yaml");
    expect(check("locked2.key", "ok.key")).toEqual([
      `${cfg}:5:8: client.key: private key ${locked} cannot be read: permission denied (make it readable by the user hashrelay runs as, then chmod 600 ${locked})`,
    ]);
  });

  test("0600 keys pass", () => {
    keyFile("c.key", 0o600);
    keyFile("s.key", 0o600);
    expect(check("c.key", "s.key")).toEqual([]);
  });
});
