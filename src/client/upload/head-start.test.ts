// The tick's first source read while its session is still opening (backup-source.ts startHead, opening-session.ts), in memory.
import { afterEach, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HashRelayError } from "../../errors.ts";
import { PROTOCOL_VERSION } from "../../protocol/constants.ts";
import { backupWorld, WORLD_CLIENT, type WorldVersions } from "../../testing/backup-world.ts";
import { backupSource, startHead, walkFor } from "./backup-source.ts";
import { OpeningSession } from "./opening-session.ts";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** Lines unlike each other, so that an edit's neighbours are not found elsewhere. */
const text = (seed: number, lines: number) =>
  Array.from({ length: lines }, (_, i) => `${seed}.key_${i} = ${(i * 7919 + seed) % 100_003}\n`).join("");

/** A world with one backup stored, and one of its two files edited since. */
async function editedWorld(versions: WorldVersions = {}) {
  const w = await backupWorld(roots, versions);
  const files: Record<string, string> = { "a.conf": text(1, 4000), "b.conf": text(2, 4000) };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(w.source.path, name), body);
  expect((await w.backup()).result).toMatchObject({ status: "sent" });
  files["a.conf"] = `${files["a.conf"]}one more line\n`;
  writeFileSync(join(w.source.path, "a.conf"), files["a.conf"]);
  return { w, files };
}

/** The source indexes in the client's state folder. */
const indexDirs = (state: string) => readdirSync(join(state, "sources")).filter((f) => f.endsWith(".index"));

describe("a source begun before its session is open", () => {
  test("the source is read while the session is still opening, and the upload goes on once it opens", async () => {
    const { w, files } = await editedWorld();
    // the first chunk hashed is reported as progress: it must come while the session has not opened
    const hashed = Promise.withResolvers<void>();
    w.ctx.onProgress = (p) => {
      if (p.bytesHashed > 0) hashed.resolve();
    };
    const opening = Promise.withResolvers<typeof w.session>();
    const head = startHead(w.source, w.ctx, walkFor(w.source, w.ctx), new OpeningSession(opening.promise));
    await hashed.promise;
    opening.resolve(w.session);
    const result = await backupSource(w.session, w.source, w.ctx, head);
    expect(result).toMatchObject({ status: "sent", chunksSent: 1 });
    expect(w.session.version).toBe(PROTOCOL_VERSION);
    const out = join(w.root, "restored");
    mkdirSync(out);
    expect(spawnSync("tar", ["-xzf", join(w.root, "storage", WORLD_CLIENT, result.archive!), "-C", out]).status).toBe(0);
    for (const [name, body] of Object.entries(files)) expect(readFileSync(join(out, "data", name), "utf8")).toBe(body);
    expect(indexDirs(join(w.root, "state"))).toHaveLength(1);
    await w.close();
  });

  test("a session that settles on an older version: the early upload is dropped and the source read again", async () => {
    // Without the version check, the early upload's version-5 pages reach a version-4 server: BAD_FRAME.
    const { w, files } = await editedWorld({ server: [4, 3, 2] });
    expect(w.session.version).toBe(4);
    const head = startHead(w.source, w.ctx, walkFor(w.source, w.ctx), new OpeningSession(Promise.resolve(w.session)));
    const result = await backupSource(w.session, w.source, w.ctx, head);
    expect(result).toMatchObject({ status: "sent" });
    const out = join(w.root, "restored");
    mkdirSync(out);
    expect(spawnSync("tar", ["-xzf", join(w.root, "storage", WORLD_CLIENT, result.archive!), "-C", out]).status).toBe(0);
    expect(readFileSync(join(out, "data", "a.conf"), "utf8")).toBe(files["a.conf"]!);
    expect(indexDirs(join(w.root, "state"))).toHaveLength(1);
    await w.close();
    expect(w.logs.filter((line) => line.startsWith("error"))).toEqual([]);
  });

  test("a session that never opens: the early upload stops, its new index is removed, the last backup stays in force", async () => {
    const { w } = await editedWorld();
    const before = w.state.source("data");
    const refused = new HashRelayError("UNAUTHORIZED", "server key mismatch");
    const opening = Promise.withResolvers<typeof w.session>();
    const head = startHead(w.source, w.ctx, walkFor(w.source, w.ctx), new OpeningSession(opening.promise));
    const begun = await head;
    expect(await begun.early).not.toBeNull();
    opening.reject(refused);
    await begun.close(refused);
    expect(indexDirs(join(w.root, "state"))).toEqual([before!.sourceIndex!]);
    expect(w.state.source("data")).toEqual(before);
    // the session was never used: the next backup goes as usual
    expect((await w.backup()).result).toMatchObject({ status: "sent" });
    await w.close();
  });

  test("an unchanged source whose session never opens: closed without an unhandled rejection (it would end the process)", async () => {
    const w = await backupWorld(roots);
    writeFileSync(join(w.source.path, "a.conf"), text(3, 100));
    expect((await w.backup()).result).toMatchObject({ status: "sent" });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const opening = Promise.withResolvers<typeof w.session>();
      const begun = await startHead(w.source, w.ctx, walkFor(w.source, w.ctx), new OpeningSession(opening.promise));
      expect(begun.history.claimed).toBeDefined();
      expect(await begun.early).toBeNull();
      const refused = new HashRelayError("UNAUTHORIZED", "the server's identity changed");
      opening.reject(refused);
      await begun.close(refused);
      // a rejection nobody handles is reported after the microtasks of this turn: one more turn of the loop
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    expect(unhandled).toEqual([]);
    await w.close();
  });
});
