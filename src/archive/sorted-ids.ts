// Chunk ids in byte order: comparing two, and walking two ascending lists together to see what changed.

/** Byte order of two 32-byte chunk ids (the first 32 bytes of each): memcmp, a native call. */
export function compareIds(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a.length === 32 ? a : a.subarray(0, 32), b.length === 32 ? b : b.subarray(0, 32));
}

/** An id in one of two lists only: `added` when only the second has it. */
export interface IdChange {
  id: Uint8Array;
  added: boolean;
}

/**
 * The ids in only one of `before` and `after`, both ascending and without repeats (a source index's ids
 * file), in ascending order. One pass over each, nothing held but the two current ids; a yielded id is
 * a view valid until the next step (the lists' own contract). Throws INTERNAL-style Error when a list
 * is not ascending, so a damaged list never reads as a small change.
 */
export function* idChanges(before: Iterable<Uint8Array>, after: Iterable<Uint8Array>): Generator<IdChange> {
  const olds = new AscendingIds(before, "before");
  const news = new AscendingIds(after, "after");
  let old = olds.next();
  let next = news.next();
  while (old || next) {
    const order = !old ? 1 : !next ? -1 : compareIds(old, next);
    if (order < 0) {
      yield { id: old!, added: false };
      old = olds.next();
    } else if (order > 0) {
      yield { id: next!, added: true };
      next = news.next();
    } else {
      old = olds.next();
      next = news.next();
    }
  }
}

/** The ids of a list one by one (null after the last), checked to be strictly ascending. */
class AscendingIds {
  private readonly ids: Iterator<Uint8Array>;
  /** A copy of the last id: the list's ids are views. */
  private readonly last = new Uint8Array(32);
  private first = true;

  constructor(
    ids: Iterable<Uint8Array>,
    private readonly name: string,
  ) {
    this.ids = ids[Symbol.iterator]();
  }

  next(): Uint8Array | null {
    const step = this.ids.next();
    if (step.done) return null;
    const id = step.value;
    if (!this.first && compareIds(this.last, id) >= 0) throw new Error(`chunk ids ${this.name} are not in ascending order`);
    this.last.set(id.length === 32 ? id : id.subarray(0, 32));
    this.first = false;
    return id;
  }
}
