import { expect, test } from "bun:test";
import { SpareBuffers } from "./spare-buffers.ts";

test("a buffer given back serves the next take that fits; new ones are whole steps", () => {
  const spare = new SpareBuffers(1024, 256);
  const a = spare.take(300);
  expect(a.byteLength).toBe(512);
  spare.give(a);
  expect(spare.take(600).byteLength).toBe(768); // a does not fit: a new one
  expect(spare.take(100)).toBe(a);
  expect(spare.bytes).toBe(0);
});

test("a buffer is kept once, and only within the byte budget", () => {
  const spare = new SpareBuffers(1024, 256);
  const a = spare.take(512);
  spare.give(a);
  spare.give(a); // handed out twice it would carry two frames at once
  expect(spare.bytes).toBe(512);
  expect(spare.take(1)).toBe(a);
  expect(spare.take(1)).not.toBe(a);
  spare.give(new ArrayBuffer(1024));
  spare.give(a);
  expect(spare.bytes).toBe(1024);
});
