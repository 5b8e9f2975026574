// Damage heals itself (issue 17 item 5): damaged reused members replaced from an intact copy or asked for again, the last good archive kept, the scheduled scrub.
import { afterEach, describe, expect, test } from "bun:test";
import { readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { planScrubStep, emptyScrubState, scrubStepMs, type ScrubCandidate } from "./scrub-schedule.ts";
import { Store, type StoreLog } from "./store.ts";
import { buildArchive, offer, seededBytes, tempDir, uploadArchive, type TestArchive } from "./test-fixtures.ts";

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const fileAt = (name: string, ms: number) => archiveFileName(name, new Date(ms));
const indicesOf = (flags: readonly boolean[]) => flags.flatMap((n, i) => (n ? [i] : []));

const roots: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

/** A store in a fresh folder on a clock the test moves, with its log lines and audit events recorded. */
async function openStore(root?: string) {
  root ??= await tempDir("hr-heal-");
  roots.push(root);
  const time = { now: T0 };
  const events: { event: string; fields: Record<string, unknown> }[] = [];
  const audit: Record<string, unknown>[] = [];
  const log: StoreLog = (_level, event, fields) => events.push({ event, fields });
  const store = await Store.open(root, { now: () => time.now, log, audit: (e) => void audit.push(e) });
  stores.push(store);
  return { root, store, time, events, audit };
}

function raws(seed: string, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => seededBytes(`${seed}-${i}`, 20 * 1024));
}

/** Flips one bit `into` bytes into member `index` of stored `file`, keeping the file's mtime (bit rot: the index is not rescanned). */
async function rot(root: string, file: string, archive: TestArchive, index: number, into: number): Promise<void> {
  const path = join(root, "web01", file);
  const bytes = new Uint8Array(await readFile(path));
  const at = archive.members.slice(0, index).reduce((n, m) => n + m.length, 0) + into;
  bytes[at]! ^= 0x10;
  const { mtimeMs } = await stat(path);
  await writeFile(path, bytes);
  await utimes(path, mtimeMs / 1000, mtimeMs / 1000);
}

/** Stores `archive` as `file`, then gives it a whole-second mtime and reopens, so that rot() keeps the index's record exact. */
async function storeSettled(root: string, file: string, archive: TestArchive, extra: [string, TestArchive][] = []) {
  const first = await openStore(root);
  await uploadArchive(first.store, "web01", file, archive);
  for (const [f, a] of extra) await uploadArchive(first.store, "web01", f, a);
  await first.store.close();
  // whole seconds, one apart: the later file stays the newer one
  for (const [n, f] of [file, ...extra.map(([f]) => f)].entries())
    await utimes(join(root, "web01", f), 1_750_000_000 + n, 1_750_000_000 + n);
  return openStore(root);
}

describe("a reused member that fails its check is not held", () => {
  test("a commit meeting it records it and takes the intact copy another archive of the client holds: the backup succeeds", async () => {
    const root = await tempDir("hr-heal-");
    const shared = raws("shared", 6);
    const etc = buildArchive(shared);
    const www = buildArchive([seededBytes("www-only", 9000), ...shared]);
    const etcFile = fileAt("etc", T0);
    const wwwFile = fileAt("www", T0);
    // www stored first: the commit reuses etc's own members (the newest copy), and meets the rot there
    const { store, time, events, audit } = await storeSettled(root, wwwFile, www, [[etcFile, etc]]);
    await rot(root, etcFile, etc, 3, 200); // inside the deflate data of chunk 3 of etc (www holds it too)

    time.now += HOUR;
    const next = buildArchive([...shared, seededBytes("etc-new", 5000)]);
    const nextFile = fileAt("etc", T0 + HOUR);
    const { needed } = await uploadArchive(store, "web01", nextFile, next);
    expect(indicesOf(needed)).toEqual([6]); // only the new chunk travelled: chunk 3 came from www's archive
    expect((await store.verifyArchive("web01", nextFile)).ok).toBe(true);
    expect(store.damage.get("web01", etcFile)).toMatchObject({ by: "commit", name: "etc" });
    expect(events.some((e) => e.event === "commit.healing")).toBe(true);
    expect(audit).toContainEqual(expect.objectContaining({ event: "damaged", client: "web01", name: "etc", file: etcFile, by: "commit" }));
    // the damaged archive went to the trash like any superseded one: its successor is good
    expect(store.list("web01").map((e) => e.file)).toEqual([wwwFile, nextFile]);
  });

  test("once recorded, an offer asks for the damaged chunk unless another archive holds it intact", async () => {
    const root = await tempDir("hr-heal-");
    const archive = buildArchive(raws("asked", 5));
    const file = fileAt("etc", T0);
    const { store, time } = await storeSettled(root, file, archive);
    await rot(root, file, archive, 2, 100);
    expect((await store.verifyArchive("web01", file, "scrub")).ok).toBe(false);
    expect(store.damage.get("web01", file)?.members.map((m) => m.index)).toEqual([2]);
    time.now += HOUR;
    const { upload, needed } = offer(store, "web01", fileAt("etc", T0 + HOUR), archive);
    expect(indicesOf(needed)).toEqual([2]);
    await upload.abort();
  });
});

describe("a damaged latest archive never sends the last good one away", () => {
  test("the trash purge keeps the last good archive while every stored one of its name is damaged, and lets it go once a good one is stored", async () => {
    const root = await tempDir("hr-heal-");
    const { store, time } = await openStore(root);
    const good = buildArchive(raws("good", 4));
    const goodFile = fileAt("etc", T0);
    await uploadArchive(store, "web01", goodFile, good);
    time.now += HOUR;
    const latest = buildArchive([...raws("good", 4), seededBytes("latest", 4000)]);
    const latestFile = fileAt("etc", T0 + HOUR);
    await uploadArchive(store, "web01", latestFile, latest);
    expect((await store.listTrashed("web01")).map((t) => t.file)).toEqual([goodFile]);

    // the latest rots; the scrub finds it; the trash time of the good one runs out
    const path = join(root, "web01", latestFile);
    const bytes = new Uint8Array(await readFile(path));
    bytes[100]! ^= 1;
    await writeFile(path, bytes);
    expect((await store.verifyArchive("web01", latestFile, "scrub")).ok).toBe(false);
    time.now += 3 * DAY;
    expect(await store.purgeTrash(HOUR)).toEqual([]);
    expect((await store.listTrashed("web01")).map((t) => t.file)).toEqual([goodFile]);

    // a good successor (the repair): the damaged one is trashed, and the purge takes both
    const repairFile = fileAt("etc", T0 + 3 * DAY);
    await uploadArchive(store, "web01", repairFile, latest);
    expect(store.list("web01").map((e) => e.file)).toEqual([repairFile]);
    time.now += 2 * HOUR;
    expect((await store.purgeTrash(HOUR)).map((t) => t.item).sort()).toEqual([goodFile, latestFile].sort());
    expect(store.damage.get("web01", latestFile)).toBeUndefined(); // purged: the record goes with it
  });

  test("retention keeps the newest good archive when every archive that stays is damaged (a hold released on a rotten suspect)", async () => {
    const root = await tempDir("hr-heal-");
    const { store, time } = await openStore(root);
    const text = (seed: string) => new TextEncoder().encode(`${seed} `.repeat(4000));
    const good = buildArchive([text("a"), text("b"), text("c")]);
    const goodFile = fileAt("etc", T0);
    await uploadArchive(store, "web01", goodFile, good);
    time.now += HOUR;
    // every chunk new and incompressible: a suspect replacement, so the hold keeps the good one
    const suspect = buildArchive(raws("encrypted", 3).map((r) => r.subarray(0, 12_000)));
    const suspectFile = fileAt("etc", T0 + HOUR);
    await uploadArchive(store, "web01", suspectFile, suspect);
    expect(store.holdOf("web01", "etc")?.kept).toBe(goodFile);
    const path = join(root, "web01", suspectFile);
    const bytes = new Uint8Array(await readFile(path));
    bytes[100]! ^= 1;
    await writeFile(path, bytes);
    await store.verifyArchive("web01", suspectFile, "scrub");
    // released: retention (keep 1) would trash the good one; the damaged suspect is all that would stay
    await store.release("web01", "etc", "test");
    expect(store.list("web01").map((e) => e.file)).toEqual([goodFile, suspectFile]);
  });
});

describe("the scheduled scrub", () => {
  const archive = (client: string, file: string, size: number, storedAt = "2026-01-01T00:00:00.000Z"): ScrubCandidate => ({
    client,
    file,
    size,
    storedAt,
  });

  test("reads about total × elapsed / cycle per step, least recently read first, and never more than the cycle asks", () => {
    const cycle = 30 * DAY;
    const step = scrubStepMs(cycle);
    expect(step).toBe(HOUR);
    const all = Array.from({ length: 300 }, (_, i) => archive("web01", `a${String(i).padStart(3, "0")}`, 1000));
    let state = emptyScrubState();
    let read = 0;
    let now = T0;
    const seen = new Map<string, number>();
    for (let s = 0; s < 24 * 40; s++) {
      const plan = planScrubStep(state, all, now, cycle);
      for (const a of plan.read) seen.set(a.file, (seen.get(a.file) ?? 0) + 1);
      read += plan.read.reduce((n, a) => n + a.size, 0);
      state = plan.next;
      if (s === 24 - 1) expect(read).toBeLessThanOrEqual((300 * 1000) / 30 + 1000); // one day: 1/30 of the store, one archive more at most
      now += step;
    }
    // 40 days: every archive read once in the first cycle, the oldest-read again in the second
    expect([...seen.values()].every((n) => n >= 1 && n <= 2)).toBe(true);
    expect(read).toBeLessThanOrEqual((300 * 1000 * 40) / 30 + 1000);
  });

  test("a server off for a week does not read in a burst; archives no longer stored are forgotten", () => {
    const cycle = 30 * DAY;
    const all = [archive("web01", "a", 5000), archive("web01", "b", 5000)];
    const first = planScrubStep(emptyScrubState(), all, T0, cycle);
    const later = planScrubStep({ ...first.next, readAt: { ...first.next.readAt, "web01/gone": T0 } }, all, T0 + 7 * DAY, cycle);
    expect(later.next.credit).toBeLessThanOrEqual((10_000 * 2 * HOUR) / cycle);
    expect(Object.keys(later.next.readAt)).not.toContain("web01/gone");
  });

  test("Store.scrubStep finds rot in an archive no commit reads, records it, and keeps its totals across a restart", async () => {
    const root = await tempDir("hr-heal-");
    const archive = buildArchive(raws("scrub", 4));
    const file = fileAt("etc", T0);
    const { store, time, audit } = await storeSettled(root, file, archive);
    await rot(root, file, archive, 1, 50);
    const report = await store.scrub.step(10 * 60_000);
    expect(report).toEqual({ archives: 1, bytes: archive.bytes.length, damaged: [`web01/${file}`] });
    expect(store.damage.get("web01", file)?.by).toBe("scrub");
    expect(audit).toContainEqual(expect.objectContaining({ event: "damaged", file, by: "scrub", members: 1 }));
    // read within this cycle: the next step reads nothing
    time.now += 1000;
    expect((await store.scrub.step(10 * 60_000)).archives).toBe(0);
    await store.close();
    const again = await openStore(root);
    expect(again.store.damage.get("web01", file)?.by).toBe("scrub");
    await again.store.scrub.step(10 * 60_000);
    expect(again.store.scrub.current).toMatchObject({ archivesRead: 1, damageFound: 1 });
    expect(await readdir(join(root, ".hashrelay"))).toEqual(expect.arrayContaining(["damaged.json", "scrub.json"]));
  });
});
