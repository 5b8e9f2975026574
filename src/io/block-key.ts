// The block key the agent stores in its block index: wyhash (Bun's native hash), cut to 52 bits.
import type { BlockKeyOf } from "../archive/chunk-delta.ts";

const MASK_52 = (1n << 52n) - 1n;

export const blockKey: BlockKeyOf = (block) => Number(BigInt(Bun.hash.wyhash(block, 0x4852n)) & MASK_52);
