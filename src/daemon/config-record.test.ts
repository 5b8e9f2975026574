import { expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ClientConfigs, readConfigRecord, writeConfigRecord } from "./config-record.ts";

const H1 = "1".repeat(64);
const H2 = "2".repeat(64);

function storage(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-record-"));
  fs.mkdirSync(path.join(dir, ".hashrelay"));
  return dir;
}

test("client config hashes: 'since' moves only when the hash changes; the file survives a restart", async () => {
  const dir = storage();
  const seen = new ClientConfigs(dir);
  const fail = (err: unknown) => {
    throw err;
  };
  expect(seen.saw("web01", H1, new Date("2026-01-01T00:00:00Z"), fail)).toBeNull();
  expect(seen.saw("web01", H1, new Date("2026-01-02T00:00:00Z"), fail)).toEqual({
    hash: H1,
    since: "2026-01-01T00:00:00.000Z",
    lastSeen: "2026-01-01T00:00:00.000Z",
  });
  seen.saw("web01", H2, new Date("2026-01-03T00:00:00Z"), fail);
  seen.saw("db01", H1, new Date("2026-01-03T00:00:00Z"), fail);
  await seen.flushed();
  expect(ClientConfigs.read(dir)).toEqual({
    web01: { hash: H2, since: "2026-01-03T00:00:00.000Z", lastSeen: "2026-01-03T00:00:00.000Z" },
    db01: { hash: H1, since: "2026-01-03T00:00:00.000Z", lastSeen: "2026-01-03T00:00:00.000Z" },
  });
  const restarted = new ClientConfigs(dir);
  expect(restarted.saw("web01", H2, new Date("2026-01-04T00:00:00Z"), fail)!.since).toBe("2026-01-03T00:00:00.000Z");
  await restarted.flushed(); // its write must not outlive the test (the folder may be gone by then)
});

test("a failed write goes to onError, not to the caller", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hashrelay-record-")); // no .hashrelay folder: the write fails
  const errors: unknown[] = [];
  const configs = new ClientConfigs(dir);
  configs.saw("web01", H1, new Date(), (err) => errors.push(err));
  await configs.flushed();
  expect(errors).toHaveLength(1);
});

test("config records round-trip; a missing or damaged one reads as null", async () => {
  const file = path.join(storage(), "config.json");
  expect(readConfigRecord(file)).toBeNull();
  const record = {
    file: "/etc/hashrelay/hashrelay.yaml",
    pid: 7,
    hash: H1,
    appliedAt: "2026-01-01T00:00:00.000Z",
    lastReload: null,
    lastError: null,
  };
  await writeConfigRecord(file, record);
  expect(readConfigRecord(file)).toEqual(record);
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  fs.writeFileSync(file, "{");
  expect(readConfigRecord(file)).toBeNull();
});
