// Holds on suspect replacements in a real store under a temp folder: hold, retention while held, release, releaseAfter, requests.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { archiveFileName } from "../archive/naming.ts";
import { HashRelayError } from "../errors.ts";
import { requestRelease } from "./holds.ts";
import { StoreLayout } from "./layout.ts";
import { DEFAULT_SUSPECT_RULES, Store, type AuditEvent, type AuditSink, type StoreLog } from "./store.ts";
import { buildArchive, seededBytes, tempDir, uploadArchive } from "./test-fixtures.ts";

const HOUR = 3600_000;
const T0 = Date.UTC(2026, 0, 10, 3, 0, 0);
const fileAt = (ms: number) => archiveFileName("docs", new Date(ms));

const roots: string[] = [];
afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

/** A store with keep 1 and a movable clock, recording its log. */
async function openStore(opts: { releaseAfter?: number; root?: string; audit?: AuditSink } = {}) {
  const root = opts.root ?? (await tempDir("hr-holds-"));
  if (!opts.root) roots.push(root);
  let now = T0;
  const events: { level: string; event: string; fields: Record<string, unknown> }[] = [];
  const log: StoreLog = (level, event, fields) => events.push({ level, event, fields });
  const store = await Store.open(root, {
    now: () => now,
    log,
    retention: { keep: 1, trashForMs: 48 * HOUR, suspect: { ...DEFAULT_SUSPECT_RULES, releaseAfter: opts.releaseAfter ?? 0 } },
    audit: opts.audit,
  });
  /** Uploads `archive` as the next archive of "docs", an hour after the previous one; returns its file. */
  const put = async (archive: ReturnType<typeof buildArchive>) => {
    const file = fileAt(now);
    await uploadArchive(store, "web01", file, archive);
    now += HOUR;
    return file;
  };
  return { root, store, events, put, advance: (ms: number) => (now += ms) };
}

/** Compressible chunks, as a tree of text files gives (ratio ~0.1). */
function textArchive(seed: string, count = 6) {
  return buildArchive(Array.from({ length: count }, (_, i) => new TextEncoder().encode(`${seed} chunk ${i}: `.repeat(1200) + seed)));
}

/** Incompressible chunks, as the same tree encrypted gives (ratio ~1.0). */
function encryptedArchive(seed: string, count = 6) {
  return buildArchive(Array.from({ length: count }, (_, i) => seededBytes(`${seed}-${i}`, 16 * 1024)));
}

const stored = async (root: string) => (await readdir(join(root, "web01"))).sort();
const trashed = async (root: string) =>
  (await readdir(join(root, ".trash", "web01")).catch(() => [] as string[])).filter((f) => !f.endsWith(".trashed")).sort();

describe("a suspect replacement", () => {
  test("is stored, its predecessor stays in place and out of the trash, the hold is on disk and logged", async () => {
    const { root, store, events, put } = await openStore();
    const good = await put(textArchive("v1"));
    const bad = await put(encryptedArchive("ransom"));

    expect(await stored(root)).toEqual([good, bad].sort());
    expect(await trashed(root)).toEqual([]);
    const hold = store.holdOf("web01", "docs")!;
    expect(hold).toMatchObject({
      client: "web01",
      name: "docs",
      kept: good,
      suspect: bad,
      since: new Date(T0 + HOUR).toISOString(),
      consistent: 0,
    });
    expect(hold.figures.shared).toBe(0);
    expect(hold.figures.newRatio - hold.figures.previousRatio).toBeGreaterThan(0.5);
    const onDisk = JSON.parse(await readFile(join(root, ".holds", "web01", "docs.json"), "utf8"));
    expect(onDisk).toMatchObject({ kept: good, suspect: bad });
    const held = events.find((e) => e.event === "archive.held")!;
    expect(held.level).toBe("warn");
    expect(held.fields).toMatchObject({ client: "web01", name: "docs", file: good, suspect: bad });
    expect(String(held.fields.reason)).toContain("looks encrypted");
    expect(events.some((e) => e.event === "archive.trashed")).toBe(false);
  });

  test("a normal successor is not held and retention goes on as before", async () => {
    const { root, store, put } = await openStore();
    const first = await put(textArchive("v1"));
    const second = await put(textArchive("v2"));
    expect(store.holdOf("web01", "docs")).toBeUndefined();
    expect(await stored(root)).toEqual([second]);
    expect(await trashed(root)).toEqual([first]);
    expect(existsSync(join(root, ".holds"))).toBe(false);
  });

  test("while held, later archives follow retention among themselves and the kept one stays; the hold survives a reopen", async () => {
    const { root, store, put, advance } = await openStore();
    const good = await put(textArchive("v1"));
    const files: string[] = [];
    // each one encrypted anew: shares nothing with the last, but its ratio does not rise any more
    for (const seed of ["ransom-1", "ransom-2", "ransom-3"]) files.push(await put(encryptedArchive(seed)));
    expect(await stored(root)).toEqual([good, files[2]!].sort());
    expect(await trashed(root)).toEqual([files[0]!, files[1]!].sort());
    expect(store.holdOf("web01", "docs")).toMatchObject({ kept: good, suspect: files[0], consistent: 2 });

    // a purge long after never touches the kept archive (it is not in the trash)
    advance(100 * HOUR);
    await store.purgeTrash();
    expect(existsSync(join(root, "web01", good))).toBe(true);

    await store.close();
    const { store: reopened, events } = await openStore({ root });
    expect(reopened.holdOf("web01", "docs")?.kept).toBe(good);
    expect(events.filter((e) => e.event === "store.ignored" || e.event === "hold.unreadable")).toEqual([]);
    expect(reopened.list("web01").map((e) => e.file)).toEqual([good, files[2]!]);
  });

  test("a second suspect replacement while held renews the hold and keeps the first good archive", async () => {
    const { store, put } = await openStore();
    const good = await put(textArchive("v1"));
    await put(encryptedArchive("ransom"));
    const restored = await put(textArchive("v1-restored"));
    expect(store.holdOf("web01", "docs")?.consistent).toBe(1);
    const again = await put(encryptedArchive("ransom-again"));
    expect(store.holdOf("web01", "docs")).toMatchObject({ kept: good, suspect: again, consistent: 0 });
  });
});

describe("release", () => {
  test("hashrelay release lifts the hold: the kept archive goes to the trash with a full trashFor", async () => {
    const { root, store, events, put, advance } = await openStore();
    const good = await put(textArchive("v1"));
    const bad = await put(encryptedArchive("ransom"));

    const released = await store.release("web01", "docs", "test");
    expect(released?.kept).toBe(good);
    expect(store.holdOf("web01", "docs")).toBeUndefined();
    expect(existsSync(join(root, ".holds", "web01", "docs.json"))).toBe(false);
    expect(await stored(root)).toEqual([bad]);
    expect(await trashed(root)).toEqual([good]);
    expect(events.find((e) => e.event === "archive.released")?.fields).toMatchObject({
      client: "web01",
      name: "docs",
      file: good,
      suspect: bad,
      reason: "test",
    });
    expect(await store.release("web01", "docs", "test")).toBeUndefined();

    advance(48 * HOUR - 1);
    expect(await store.purgeTrash()).toEqual([]);
    advance(1);
    expect((await store.purgeTrash()).map((p) => p.item)).toEqual([good]);
  });

  test("the audit trail reads accept, supersede, hold, then release and trash of the kept archive, in that order", async () => {
    const trail: AuditEvent[] = [];
    const { store, put } = await openStore({ audit: (e) => void trail.push(e) });
    const good = await put(textArchive("v1"));
    const bad = await put(encryptedArchive("ransom"));
    await store.release("web01", "docs", "checked by the admin");
    expect(trail.map((e) => e.event)).toEqual(["accept", "accept", "supersede", "hold", "release", "trash"]);
    expect(trail[3]).toMatchObject({ event: "hold", client: "web01", name: "docs", file: good, suspect: bad });
    expect(trail[4]).toMatchObject({ event: "release", file: good, suspect: bad, reason: "checked by the admin" });
    expect(trail[5]).toMatchObject({ event: "trash", file: good, replacedBy: bad });
  });

  test("a release request file is applied and consumed; one for a name not held is refused or just consumed", async () => {
    const { root, store, events, put } = await openStore();
    const good = await put(textArchive("v1"));
    await put(encryptedArchive("ransom"));

    const layout = new StoreLayout(root);
    await requestRelease(layout, "web01", "docs");
    expect(existsSync(join(root, ".holds", "web01", "docs.release"))).toBe(true);
    expect((await store.applyReleaseRequests()).map((h) => h.kept)).toEqual([good]);
    expect(existsSync(join(root, ".holds", "web01", "docs.release"))).toBe(false);
    expect(await trashed(root)).toEqual([good]);

    const refused = await requestRelease(layout, "web01", "www").catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(HashRelayError);
    expect((refused as HashRelayError).code).toBe("STORAGE");
    await writeFile(join(root, ".holds", "web01", "www.release"), "{}\n");
    expect(await store.applyReleaseRequests()).toEqual([]);
    expect(existsSync(join(root, ".holds", "web01", "www.release"))).toBe(false);
    expect(events.some((e) => e.event === "release.not-held" && e.fields.name === "www")).toBe(true);
  });

  test("releaseAfter: the hold lifts by itself after that many consistent backups", async () => {
    const { root, store, events, put } = await openStore({ releaseAfter: 2 });
    const good = await put(textArchive("v1"));
    await put(encryptedArchive("ransom"));
    await put(textArchive("v2"));
    expect(store.holdOf("web01", "docs")?.consistent).toBe(1);
    expect(existsSync(join(root, "web01", good))).toBe(true);
    const last = await put(textArchive("v3"));
    expect(store.holdOf("web01", "docs")).toBeUndefined();
    expect(await stored(root)).toEqual([last]);
    expect(await trashed(root)).toContain(good);
    expect(String(events.find((e) => e.event === "archive.released")?.fields.reason)).toContain("2 consistent");
  });

  test("a hold that cannot be written costs no archive: retention waits", async () => {
    const { root, events, put } = await openStore();
    const good = await put(textArchive("v1"));
    await writeFile(join(root, ".holds"), "not a folder");
    await put(encryptedArchive("ransom"));
    expect(events.find((e) => e.event === "hold.failed")?.level).toBe("error");
    expect(existsSync(join(root, "web01", good))).toBe(true);
    expect(await trashed(root)).toEqual([]);
  });
});
