// Fillers: exact lengths, what every reader makes of them (gzip, zcat, tar, Python, Node, zstd), and what our readers refuse.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { deflateRaw, zstdFrame } from "../io/compress.ts";
import { thrownCode } from "../testing/thrown-code.ts";
import { encodeFillers, fillerGap, fillerLength, inflateStoredMember, leadingFillers } from "./filler.ts";
import { GZIP_FILLER_MAX, GZIP_FILLER_MIN, encodeGzipMember } from "./gzip-member.ts";
import type { ArchiveFormat } from "./naming.ts";
import { ZSTD_FILLER_MIN, encodeZstdMember } from "./zstd-member.ts";

const encode = (raw: Uint8Array, format: ArchiveFormat) =>
  format === "tar.gz" ? encodeGzipMember(raw, deflateRaw) : encodeZstdMember(raw, zstdFrame);

/** A real tar stream of a few files, cut into members with fillers of many lengths before, between and inside. */
function tarWithFillers(format: ArchiveFormat): { tar: Uint8Array; file: Uint8Array; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "hashrelay-filler-"));
  for (let i = 0; i < 4; i++) writeFileSync(join(dir, `f${i}.txt`), `line ${i} of a file\n`.repeat(4000 * (i + 1)));
  const tar = new Uint8Array(spawnSync("tar", ["-cf", "-", "-C", dir, "."]).stdout);
  const min = format === "tar.gz" ? GZIP_FILLER_MIN : ZSTD_FILLER_MIN;
  const gaps = [min, min + 1, 4095, GZIP_FILLER_MAX, GZIP_FILLER_MAX + 1, 200_000];
  const parts: Uint8Array[] = [encodeFillers(4000, format)];
  const step = Math.ceil(tar.length / gaps.length);
  gaps.forEach((gap, k) => {
    parts.push(encode(tar.subarray(k * step, Math.min(tar.length, (k + 1) * step)), format));
    if (k + 1 < gaps.length) parts.push(encodeFillers(gap, format));
  });
  return { tar, file: new Uint8Array(Buffer.concat(parts)), dir };
}

describe("fillers", () => {
  test("encodeFillers gives exactly the length asked for, as one filler or several, and fillerGap aligns", () => {
    for (const format of ["tar.gz", "tar.zst"] as const) {
      const min = format === "tar.gz" ? GZIP_FILLER_MIN : ZSTD_FILLER_MIN;
      for (const length of [min, min + 1, 4096, 65_557, 65_558, 131_072 + 25, 300_001]) {
        const bytes = encodeFillers(length, format);
        expect(bytes.length).toBe(length);
        expect(leadingFillers(bytes)).toBe(length);
      }
      expect(encodeFillers(0, format).length).toBe(0);
      expect(() => encodeFillers(min - 1, format)).toThrow(RangeError);
      for (const [position, target] of [
        [0, 0],
        [100, 4096],
        [4090, 1],
        [12_345, 67_890],
      ] as const) {
        const gap = fillerGap(position, target, 4096, format);
        expect((position + gap) % 4096).toBe(target % 4096);
        expect(gap === 0 || (gap >= min && gap < 4096 + min)).toBe(true);
      }
    }
  });

  test("gzip -t, zcat, tar -xzf, Python and Node read an archive with fillers as the tar stream", () => {
    const { tar, file, dir } = tarWithFillers("tar.gz");
    try {
      const path = join(dir, "..", `${dir.split("/").at(-1)}.tar.gz`);
      writeFileSync(path, file);
      expect(spawnSync("gzip", ["-t", path]).status).toBe(0);
      expect(Buffer.from(spawnSync("zcat", [path], { maxBuffer: 1 << 26 }).stdout).equals(Buffer.from(tar))).toBe(true);
      const out = mkdtempSync(join(tmpdir(), "hashrelay-filler-out-"));
      expect(spawnSync("tar", ["-xzf", path, "-C", out]).status).toBe(0);
      expect(spawnSync("diff", ["-r", dir, out]).status).toBe(0);
      const python = spawnSync("python3", ["-c", "import gzip,sys; print(len(gzip.open(sys.argv[1]).read()))", path], { encoding: "utf8" });
      expect(python.stdout.trim()).toBe(String(tar.length));
      const node = spawnSync(
        "node",
        ["-e", "console.log(require('zlib').gunzipSync(require('fs').readFileSync(process.argv[1])).length)", path],
        {
          encoding: "utf8",
        },
      );
      expect(node.stdout.trim()).toBe(String(tar.length));
      expect(Buffer.from(gunzipSync(file)).equals(Buffer.from(tar))).toBe(true);
      rmSync(out, { recursive: true, force: true });
      rmSync(path, { force: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("zstd -t, zstd -d and tar --zstd read a .tar.zst with fillers as the tar stream", () => {
    const { tar, file, dir } = tarWithFillers("tar.zst");
    try {
      const path = join(dir, "..", `${dir.split("/").at(-1)}.tar.zst`);
      writeFileSync(path, file);
      expect(spawnSync("zstd", ["-q", "-t", path]).status).toBe(0);
      expect(Buffer.from(spawnSync("zstd", ["-q", "-d", "-c", path], { maxBuffer: 1 << 26 }).stdout).equals(Buffer.from(tar))).toBe(true);
      const out = mkdtempSync(join(tmpdir(), "hashrelay-filler-out-"));
      expect(spawnSync("tar", ["--zstd", "-xf", path, "-C", out]).status).toBe(0);
      expect(spawnSync("diff", ["-r", dir, out]).status).toBe(0);
      rmSync(out, { recursive: true, force: true });
      rmSync(path, { force: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a member with fillers before it inflates as the member; fillers alone, a cut or a filler carrying data do not", () => {
    const raw = new TextEncoder().encode("proof > payload\n".repeat(300));
    for (const format of ["tar.gz", "tar.zst"] as const) {
      const member = encode(raw, format);
      const span = new Uint8Array(Buffer.concat([encodeFillers(5000, format), member]));
      expect(Buffer.from(inflateStoredMember(span, raw.length)).equals(Buffer.from(raw))).toBe(true);
      expect(Buffer.from(inflateStoredMember(member, raw.length)).equals(Buffer.from(raw))).toBe(true);
      expect(fillerLength(member, 0)).toBe(0);
      expect(thrownCode(() => inflateStoredMember(encodeFillers(5000, format), raw.length))).toBe("BAD_FRAME");
      expect(thrownCode(() => leadingFillers(encodeFillers(5000, format).subarray(0, 4000)))).toBe("BAD_FRAME");
      const carrying = encodeFillers(5000, format);
      carrying[100] = 1;
      expect(thrownCode(() => leadingFillers(carrying))).toBe("BAD_FRAME");
    }
  });
});
