import { expect, test } from "bun:test";
import { ScheduleTimer } from "./schedule-timer.ts";

test("sleeps until the time given and resolves 'due'", async () => {
  const timer = new ScheduleTimer();
  const started = Date.now();
  expect(await timer.sleepUntil(started + 120)).toBe("due");
  expect(Date.now() - started).toBeGreaterThanOrEqual(115);
  expect(timer.armed).toBe(0);
});

test("wake ends the sleep at once with 'woken'", async () => {
  const timer = new ScheduleTimer();
  const sleeping = timer.sleepUntil(Date.now() + 60_000);
  expect(timer.armed).toBe(1);
  timer.wake();
  expect(await sleeping).toBe("woken");
  expect(timer.armed).toBe(0);
});

test("re-arming 50 times in a row leaves exactly one timer, and only the last sleep ends 'due'", async () => {
  const timer = new ScheduleTimer();
  const sleeps: Promise<string>[] = [];
  for (let i = 0; i < 50; i++) {
    sleeps.push(timer.sleepUntil(Date.now() + 50 + i));
    expect(timer.armed).toBe(1);
  }
  const results = await Promise.all(sleeps);
  expect(results.slice(0, 49).every((r) => r === "woken")).toBe(true);
  expect(results[49]).toBe("due");
  expect(timer.armed).toBe(0);
});

test("a time already past is due at once", async () => {
  expect(await new ScheduleTimer().sleepUntil(Date.now() - 1000)).toBe("due");
});
