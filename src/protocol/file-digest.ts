// Which digest attests an archive file: a receipt carries exactly one (PROTOCOL.md §7.3), and so does every copy of its facts.

/**
 * A receipt has exactly one of the two (the wire schema requires it; digestOf copies just that one);
 * an archive known only by scanning it has both (a scan cannot tell which one its receipt signed).
 * `piecesSha256`: the pieces digest (PROTOCOL.md §7.3), what a server signs since it stopped reading
 * cloned runs at commit; `fileSha256`: the SHA-256 of the whole file, what receipts made before say.
 */
export type FileDigest = {
  piecesSha256?: string;
  fileSha256?: string;
};

/** Just the digest of `facts` (the one field it has, no undefined key), to spread into another record. */
export function digestOf(facts: FileDigest): FileDigest {
  return facts.piecesSha256 !== undefined ? { piecesSha256: facts.piecesSha256 } : { fileSha256: facts.fileSha256 ?? "" };
}

/** True when `a` and `b` are the same kind of digest with the same value. */
export function sameDigest(a: FileDigest, b: FileDigest): boolean {
  return a.piecesSha256 !== undefined ? a.piecesSha256 === b.piecesSha256 : a.fileSha256 !== undefined && a.fileSha256 === b.fileSha256;
}

/** The digest as people read it: `pieces-sha256 <hex>` or `sha256 <hex>`. */
export function describeDigest(d: FileDigest): string {
  return d.piecesSha256 !== undefined ? `pieces-sha256 ${d.piecesSha256}` : `sha256 ${d.fileSha256}`;
}

/** Every digest `d` has (both for an archive known only by scanning it), with no undefined key: what a listing or trash sidecar keeps. */
export function digestsOf(d: FileDigest): FileDigest {
  return {
    ...(d.piecesSha256 !== undefined ? { piecesSha256: d.piecesSha256 } : {}),
    ...(d.fileSha256 !== undefined ? { fileSha256: d.fileSha256 } : {}),
  };
}

/**
 * The digests as one string, for a single text column: `pieces-sha256 <hex>`, a bare `<hex>` (the
 * whole file's: what the column held before), or `pieces-sha256 <hex> sha256 <hex>` for both.
 */
export function digestText(d: FileDigest): string {
  const parts = [
    ...(d.piecesSha256 !== undefined ? [`pieces-sha256 ${d.piecesSha256}`] : []),
    ...(d.fileSha256 !== undefined ? [d.fileSha256] : []),
  ];
  return parts.join(" sha256 ");
}

/** The digests digestText wrote. */
export function parseDigest(text: string): FileDigest {
  if (!text.startsWith("pieces-sha256 ")) return { fileSha256: text };
  const [pieces, whole] = text.slice("pieces-sha256 ".length).split(" sha256 ");
  return { piecesSha256: pieces!, ...(whole !== undefined ? { fileSha256: whole } : {}) };
}
