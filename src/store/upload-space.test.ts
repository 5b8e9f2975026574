// Two uploads never share the last room: archive bytes stay promised while they are written.
import { expect, test } from "bun:test";
import { HashRelayError } from "../errors.ts";
import { SpaceGuard } from "./space-guard.ts";
import type { StoreContext } from "./store-context.ts";

const MiB = 1024 * 1024;

/**
 * A guard over a pretend disk with `roomMiB` MiB above minFree (0 here) until `write` takes some. The
 * store's own tests run real uploads; here a write must be held open at a chosen moment, which only
 * a pretend disk allows. Nothing is staged in a pool: there is nothing abandoned to release.
 */
function guardOver(roomMiB: number) {
  let free = roomMiB * MiB;
  const ctx = {
    layout: { root: "/pretend" },
    pool: { release: async () => 0, usage: () => new Map() },
    index: { archives: () => [] },
    log: () => {},
  } as unknown as StoreContext;
  const guard = new SpaceGuard(
    ctx,
    async () => free,
    () => new Set(),
  );
  guard.rules = { minFreeBytes: 0, quotas: new Map() };
  const write = (bytes: number) => async () => {
    free -= bytes;
  };
  return { guard, write };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  return err instanceof HashRelayError ? err.code : `no refusal (${String(err)})`;
}

test("an archive batch being written is promised: a second upload is refused the room it takes", async () => {
  const { guard, write } = guardOver(6);
  const a = guard.open("web01", "etc");
  const b = guard.open("web02", "etc");
  let finishA = () => {};
  const held = new Promise<void>((resolve) => {
    finishA = resolve;
  });
  const writingA = a.writeArchive(4 * MiB, "web01/etc", async () => {
    await held;
    await write(4 * MiB)();
  });
  // a's batch is granted and its write is under way: the disk does not show it yet
  await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
  expect(await refusal(b.writeArchive(4 * MiB, "web02/etc", write(4 * MiB)))).toBe("NO_SPACE");
  finishA();
  await writingA;
  // once written, the disk shows it and what is left is granted
  await b.writeArchive(2 * MiB, "web02/etc", write(2 * MiB));
});

test("an archive batch that takes an upload's staging grant still needs the rest of its room", async () => {
  const { guard, write } = guardOver(5);
  const a = guard.open("web01", "etc");
  await a.forStaging(1); // granted 4 MiB of staging, 1 byte of it written
  await write(1)();
  // 6 MiB of archive: 4 MiB - 1 B come from the grant, 2 MiB + 1 B more must be free beyond it
  expect(await refusal(a.writeArchive(6 * MiB, "web01/etc", write(6 * MiB)))).toBe("NO_SPACE");
  await a.writeArchive(5 * MiB - 1, "web01/etc", write(5 * MiB - 1));
});
