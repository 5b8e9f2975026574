// The page pipeline's order (PROTOCOL.md §10 step 4): one page ahead, and from version 5 without waiting for NEEDs.
import { describe, expect, test } from "bun:test";
import type { ChunkOutcome } from "./chunk-choice.ts";
import { OutgoingPage } from "./page-builder.ts";
import { PagePipeline } from "./page-pipeline.ts";

/** Stages that log what happens; each page's NEED is read only when the test answers it. */
function loggedStages() {
  const log: string[] = [];
  const answers = new Map<number, (needed: ReadonlySet<number>) => void>();
  const stages = {
    offer: (page: OutgoingPage) => {
      log.push(`offer ${page.first}`);
      return new Promise<ReadonlySet<number>>((resolve) => answers.set(page.first, resolve));
    },
    prepare: (page: OutgoingPage, needed: ReadonlySet<number> | Promise<ReadonlySet<number>>): Promise<ChunkOutcome>[] => {
      log.push(`prepare ${page.first}${needed instanceof Promise ? " before its NEED" : ""}`);
      return [];
    },
    send: async () => undefined,
  };
  const answer = (first: number) => answers.get(first)!(new Set());
  return { log, stages, answer };
}

/** Lets every pending promise and the pipeline's one macrotask run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("PagePipeline", () => {
  test("before version 5: page 2 waits for page 1's NEED, and a page's work for its own", async () => {
    const { log, stages, answer } = loggedStages();
    const pipeline = new PagePipeline(stages, false);
    await pipeline.offer(new OutgoingPage(0));
    const second = pipeline.offer(new OutgoingPage(10));
    await settle();
    expect(log).toEqual(["offer 0"]);
    answer(0);
    await settle();
    // page 2 is on the wire before page 1's chunks are made (one page ahead)
    expect(log).toEqual(["offer 0", "offer 10", "prepare 0"]);
    await second;
    answer(10);
    await pipeline.finish();
    expect(log.at(-1)).toBe("prepare 10");
  });

  test("version 5: page 2 and each page's work go before page 1's NEED", async () => {
    const { log, stages, answer } = loggedStages();
    const pipeline = new PagePipeline(stages, true);
    await pipeline.offer(new OutgoingPage(0));
    const second = pipeline.offer(new OutgoingPage(10));
    await settle();
    expect(log).toEqual(["offer 0", "prepare 0 before its NEED", "offer 10", "prepare 10 before its NEED"]);
    let out = false;
    void second.then(() => (out = true));
    await settle();
    // page 1's chunks still wait for its NEED: page 2's offer has not returned
    expect(out).toBe(false);
    answer(0);
    await second;
    answer(10);
    await pipeline.finish();
  });

  test("version 5 still bounds the window: page 3 is offered only once page 1's chunks are out", async () => {
    const { log, stages, answer } = loggedStages();
    const pipeline = new PagePipeline(stages, true);
    await pipeline.offer(new OutgoingPage(0));
    let third = false;
    const second = pipeline.offer(new OutgoingPage(10)).then(() => pipeline.offer(new OutgoingPage(20)).then(() => (third = true)));
    await settle();
    expect(log.filter((line) => line.startsWith("offer"))).toEqual(["offer 0", "offer 10"]);
    answer(0);
    await settle();
    expect(log).toContain("offer 20");
    answer(10);
    answer(20);
    await second;
    expect(third).toBe(true);
    await pipeline.finish();
  });
});
