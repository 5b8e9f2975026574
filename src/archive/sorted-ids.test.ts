import { expect, test } from "bun:test";
import { compareIds, idChanges } from "./sorted-ids.ts";

const id = (n: number) => {
  const out = new Uint8Array(32);
  new DataView(out.buffer).setUint32(28, n);
  return out;
};
const ids = (...ns: number[]) => ns.map(id);
const changes = (before: number[], after: number[]) =>
  [...idChanges(ids(...before), ids(...after))].map(
    (c) => `${c.added ? "+" : "-"}${new DataView(c.id.buffer, c.id.byteOffset).getUint32(28)}`,
  );

test("ids are ordered by their bytes", () => {
  expect(compareIds(id(1), id(2))).toBe(-1);
  expect(compareIds(id(2), id(1))).toBe(1);
  expect(compareIds(id(7), id(7))).toBe(0);
  expect(compareIds(new Uint8Array(32).fill(1), id(0xffffffff))).toBe(1);
});

test("only the ids in one list come out, ascending, each marked with the list it is in", () => {
  expect(changes([1, 3, 5, 7], [1, 2, 5, 8, 9])).toEqual(["+2", "-3", "-7", "+8", "+9"]);
  expect(changes([], [4, 6])).toEqual(["+4", "+6"]);
  expect(changes([4, 6], [])).toEqual(["-4", "-6"]);
  expect(changes([1, 2, 3], [1, 2, 3])).toEqual([]);
});

test("the ids may be views into one reused buffer, as an index file's reader hands them out", () => {
  function* viewsOf(ns: number[]): Generator<Uint8Array> {
    const buffer = new Uint8Array(32);
    for (const n of ns) {
      buffer.set(id(n));
      yield buffer;
    }
  }
  const out: string[] = [];
  // each change is read before the next step, as the contract says
  for (const c of idChanges(viewsOf([1, 2, 4]), viewsOf([2, 3, 4])))
    out.push(`${c.added ? "+" : "-"}${new DataView(c.id.buffer).getUint32(28)}`);
  expect(out).toEqual(["-1", "+3"]);
});

test("a list out of order is refused, not read as a change", () => {
  expect(() => changes([1, 5, 3], [1])).toThrow(/before are not in ascending order/);
  expect(() => changes([1], [2, 2])).toThrow(/after are not in ascending order/);
});
