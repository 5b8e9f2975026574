// Bytes for the bench's binaries and disk image: random, executable-like, database-like, firmware-like, mixed-block images.
import { Rng, keystream } from "./seeded-random.ts";
import { TEXT_KINDS, prose, textFile } from "./text-gen.ts";

export type BinaryKind = "random" | "executable" | "database" | "firmware";

/** size bytes of the given kind; a pure function of (kind, label, size). */
export function binaryContent(kind: BinaryKind, label: string, size: number): Buffer {
  switch (kind) {
    case "random":
      return keystream(label, size);
    case "executable":
      return executable(label, size);
    case "database":
      return database(label, size);
    case "firmware":
      return firmware(label, size);
  }
}

/** Machine-code-like: instructions from a per-binary opcode set with small immediates, string tables, offset tables, padding. */
function executable(label: string, size: number): Buffer {
  const rng = new Rng(label);
  const out = Buffer.alloc(size);
  const opcodes = Array.from({ length: 120 }, () => Array.from({ length: rng.range(1, 3) }, () => rng.int(256)));
  const addresses = Array.from({ length: 400 }, () => rng.u32() & 0x00ffffff);
  let pos = 0;
  // ELF-looking header, then sections until full.
  out.write("\x7fELF\x02\x01\x01", 0, "latin1");
  pos = 64;
  while (pos < size) {
    const section = rng.weighted([55, 15, 10, 5, 15]);
    const len = Math.min(size - pos, rng.range(8, 96) * 1024);
    const end = pos + len;
    if (section === 0) {
      while (pos < end) {
        const op = opcodes[Math.min(rng.int(opcodes.length), rng.int(opcodes.length), rng.int(opcodes.length))]!;
        for (const b of op) if (pos < end) out[pos++] = b;
        const imm = rng.weighted([55, 25, 10, 10]);
        if (imm === 1 && pos < end) out[pos++] = rng.int(64);
        if (imm === 2 && pos + 4 <= end) pos = out.writeUInt32LE(rng.pick(addresses), pos);
        if (imm === 3 && pos + 4 <= end) pos = out.writeInt32LE(rng.range(-4096, 4096), pos);
      }
    } else if (section === 1) {
      const text = prose(`${label}/rodata/${pos}`, len).replace(/[.,?] ?/g, "\0");
      pos += out.write(text, pos, len, "latin1");
    } else if (section === 2) {
      let value = rng.u32() & 0xffff;
      while (pos + 8 <= end) {
        value += rng.range(1, 256);
        pos = out.writeUInt32LE(value, pos);
        pos = out.writeUInt32LE(rng.int(24), pos);
      }
    } else if (section === 3) {
      pos = end; // alignment padding: zeros
    } else {
      let name = 0;
      while (pos + 24 <= end) {
        name += rng.range(4, 30);
        pos = out.writeUInt32LE(name, pos);
        out[pos++] = rng.pick([0x12, 0x11, 0x22, 0x10]);
        out[pos++] = 0;
        pos = out.writeUInt16LE(rng.range(1, 30), pos);
        pos = out.writeBigUInt64LE(BigInt(rng.pick(addresses)), pos);
        pos = out.writeBigUInt64LE(BigInt(rng.range(0, 4096)), pos);
      }
    }
    pos = end;
  }
  return out;
}

/** SQLite-like 4 KiB pages: a header, rows of ids, names, numbers and text, free space as zeros; some free pages. */
function database(label: string, size: number): Buffer {
  const rng = new Rng(label);
  const out = Buffer.alloc(size);
  out.write("SQLite format 3\0", 0, "latin1");
  let rowid = 1;
  for (let page = 1; page * 4096 < size; page++) {
    const base = page * 4096;
    if (rng.int(10) === 0) continue; // a free page stays zero
    out[base] = 0x0d;
    out.writeUInt32BE(page, base + 4);
    let pos = base + 16;
    const fill = base + rng.range(2400, 4000);
    let rows = 0;
    while (pos < fill) {
      const row = `${rowid++}|${rng.pick(["alice", "bob", "carol", "dave", "erin", "frank"])}|${rng.range(0, 99999)}|${prose(`${label}/${page}/${rows}`, rng.range(20, 160))}|2024-0${rng.range(1, 9)}-1${rng.range(0, 9)}`;
      pos += out.write(row, pos, Math.max(0, Math.min(row.length, fill - pos)), "latin1");
      rows++;
    }
    out.writeUInt16BE(rows, base + 2);
  }
  return out;
}

/** Firmware-like: compressed blobs (random), 0xFF erase padding, string tables. */
function firmware(label: string, size: number): Buffer {
  const rng = new Rng(label);
  const out = Buffer.alloc(size, 0xff);
  let pos = 0;
  let part = 0;
  while (pos < size) {
    const len = Math.min(size - pos, rng.range(4, 64) * 1024);
    const kind = rng.weighted([50, 30, 20]);
    if (kind === 0) keystream(`${label}/blob/${part}`, len).copy(out, pos);
    if (kind === 2) out.write(prose(`${label}/strings/${part}`, len), pos, len, "latin1");
    pos += len;
    part++;
  }
  return out;
}

export type ImageRegionKind = "zeros" | "text" | "random" | "pattern";
export const IMAGE_REGION_WEIGHTS: Record<ImageRegionKind, number> = { zeros: 35, text: 25, random: 25, pattern: 15 };
const REGION_KINDS = Object.keys(IMAGE_REGION_WEIGHTS) as ImageRegionKind[];

export interface ImageRegion {
  kind: ImageRegionKind;
  offset: number;
  length: number;
}

/** The image's layout: 4 KiB-aligned regions of 64 KiB to 4 MiB (at least ~40 regions), kinds drawn by IMAGE_REGION_WEIGHTS. */
export function imageRegions(label: string, size: number): ImageRegion[] {
  const rng = new Rng(`${label}/layout`);
  const maxBlocks = Math.max(16, Math.min(1024, Math.floor(size / 4096 / 40)));
  const regions: ImageRegion[] = [];
  const weights = REGION_KINDS.map((k) => IMAGE_REGION_WEIGHTS[k]);
  for (let offset = 0; offset < size; ) {
    const length = Math.min(size - offset, rng.range(16, maxBlocks) * 4096);
    regions.push({ kind: REGION_KINDS[rng.weighted(weights)]!, offset, length });
    offset += length;
  }
  return regions;
}

/** The bytes of one image region: files padded to 4 KiB for text, inode-table-like records or repeated blocks for patterns. */
export function imageRegionContent(label: string, index: number, region: ImageRegion): Buffer {
  const at = `${label}/region/${index}`;
  const out = Buffer.alloc(region.length);
  if (region.kind === "random") return keystream(at, region.length);
  if (region.kind === "text") {
    const rng = new Rng(at);
    for (let pos = 0, n = 0; pos < region.length; n++) {
      const kind = rng.pick(TEXT_KINDS).kind;
      const text = textFile(kind, `${at}/file/${n}`, Math.round(Math.exp(7.8 + rng.normal())));
      pos += out.write(text, pos, "latin1");
      pos = Math.ceil(pos / 4096) * 4096;
    }
  } else if (region.kind === "pattern") {
    const rng = new Rng(at);
    const style = rng.int(3);
    if (style === 0) {
      // inode-table-like: 128-byte records, counters and times that move slowly
      for (let pos = 0, inode = rng.range(1, 1e6); pos + 128 <= region.length; pos += 128, inode++) {
        out.writeUInt32LE(inode, pos);
        out.writeUInt16LE(rng.pick([0o100644, 0o100755, 0o040755, 0o120777]), pos + 4);
        out.writeUInt32LE(1_700_000_000 + inode * 7, pos + 8);
        out.writeUInt32LE(rng.range(0, 65536), pos + 12);
      }
    } else if (style === 1) {
      out.fill(0xff);
    } else {
      const block = keystream(at, 4096);
      for (let pos = 0; pos < region.length; pos += 4096) block.copy(out, pos);
    }
  }
  return out;
}
