// The commit gate: at most its limit of jobs at once, the rest in order, a failing job frees its place.
import { describe, expect, test } from "bun:test";
import { CommitGate } from "./commit-gate.ts";

describe("commit gate", () => {
  test("runs at most its limit at once, the others in the order they came; a failure frees the place", async () => {
    const gate = new CommitGate(2);
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const releases: (() => void)[] = [];
    const job = (n: number, fail = false) =>
      gate.run(async () => {
        running++;
        most = Math.max(most, running);
        order.push(n);
        await new Promise<void>((resolve) => releases.push(resolve));
        running--;
        if (fail) throw new Error(`job ${n} failed`);
        return n;
      });
    const jobs = [job(1, true), job(2), job(3), job(4), job(5)].map((p) => p.then(String, (e: Error) => e.message));
    for (let i = 0; i < 5; i++) {
      while (releases.length === 0) await Bun.sleep(1);
      releases.shift()!();
    }
    expect(await Promise.all(jobs)).toEqual(["job 1 failed", "2", "3", "4", "5"]);
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect(most).toBe(2);
  });
});
