// What an admin sees of the scheduled scrub and of damaged archives: `hashrelay status` (text and JSON) and /metrics.
import { afterEach, expect, test } from "bun:test";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { StoreLayout } from "../store/layout.ts";
import { Store } from "../store/store.ts";
import { buildArchive, seededBytes, tempDir, uploadArchive } from "../store/test-fixtures.ts";
import { ServerMetrics } from "./metrics.ts";
import { scrubLines, scrubStatus } from "./scrub-status.ts";

const roots: string[] = [];
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

test("status reads the scrub's progress and each damaged archive from .hashrelay; metrics count them", async () => {
  const root = await tempDir("hr-scrub-status-");
  roots.push(root);
  const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
  const store = await Store.open(root, { now: () => T0 });
  const archive = buildArchive([seededBytes("status-0", 8000), seededBytes("status-1", 8000)]);
  const file = archiveFileName("etc", new Date(T0));
  await uploadArchive(store, "web01", file, archive);
  const path = join(root, "web01", file);
  const bytes = new Uint8Array(await readFile(path));
  bytes[archive.members[0]!.length + 30]! ^= 1;
  await writeFile(path, bytes);
  expect(await store.scrub.step(86_400_000)).toMatchObject({ archives: 1, damaged: [`web01/${file}`] });
  const scrub = store.scrub.current!;
  const damaged = store.damage.all();
  await store.close();

  const now = new Date(T0 + 60_000);
  const status = await scrubStatus(new StoreLayout(root), 86_400_000, new Set([`web01/${file}`]), now);
  expect(status).toMatchObject({ cycle: "1d", archivesRead: 1, readThisCycle: 1, stored: 1, bytesRead: archive.bytes.length });
  expect(status.damaged).toEqual([expect.objectContaining({ client: "web01", name: "etc", file, by: "scrub", stored: true })]);
  const lines = scrubLines(status, now);
  expect(lines[0]).toStartWith("Scrub: every archive read once per 1d; 1 of 1 read this cycle; last ran");
  expect(lines[1]).toContain(`DAMAGED web01/${file}  found by scrub`);
  expect(lines[1]).toContain("member 1 at byte");
  expect(lines[1]).toEndWith("the next backup of its source sends the damaged chunks again");
  expect(scrubLines({ ...status, cycle: "off", damaged: [] }, now)).toEqual([
    "Scrub: off (server.scrub); hashrelay server verify reads every archive on demand",
  ]);

  const text = new ServerMetrics(["web01"]).render({
    latest: [],
    trashBytes: 0,
    trashItems: 0,
    usedBytes: 0,
    freeBytes: null,
    scrub: { bytesRead: scrub.bytesRead, archivesRead: scrub.archivesRead, lastStepMs: T0, damaged },
  });
  const metrics = text.split("\n");
  expect(metrics).toContain(`hashrelay_scrub_read_bytes_total ${archive.bytes.length}`);
  expect(metrics).toContain("hashrelay_scrub_archives_total 1");
  expect(metrics).toContain(`hashrelay_scrub_last_timestamp_seconds ${T0 / 1000}`);
  expect(metrics).toContain(`hashrelay_damaged_archives{client="web01",name="etc",file="${file}"} 1`);
});
