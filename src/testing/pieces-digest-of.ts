// The pieces digest of an archive file (PROTOCOL.md §7.3), computed from the spec's formula alone: the tests' reference.
import { createHash } from "node:crypto";
import { fillerLength } from "../archive/filler.ts";
import { readMemberLength } from "../archive/gzip-member.ts";

/** Hex pieces digest of the archive `bytes`: SHA-256("hashrelay/1 pieces" ‖ per member: u64be F ‖ SHA-256(fillers) ‖ u64be M ‖ SHA-256(member)). */
export function piecesDigestOf(bytes: Uint8Array): string {
  const sha = (b: Uint8Array) => createHash("sha256").update(b).digest();
  const u64 = (n: number) => {
    const out = Buffer.alloc(8);
    out.writeBigUInt64BE(BigInt(n));
    return out;
  };
  const digest = createHash("sha256").update("hashrelay/1 pieces");
  let at = 0;
  while (at < bytes.length) {
    let memberAt = at;
    for (let f = fillerLength(bytes, memberAt); f > 0; f = fillerLength(bytes, memberAt)) memberAt += f;
    const end = memberAt + readMemberLength(bytes, memberAt);
    digest.update(u64(memberAt - at)).update(sha(bytes.subarray(at, memberAt)));
    digest.update(u64(end - memberAt)).update(sha(bytes.subarray(memberAt, end)));
    at = end;
  }
  return digest.digest("hex");
}
