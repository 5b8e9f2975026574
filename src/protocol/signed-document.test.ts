// Signed documents: verify later without a session; any change to body, signature or key is caught.
import { describe, expect, test } from "bun:test";
import { formatPublicKey } from "./identity.ts";
import { checkManifestBody, signDocument, verifyDocument, type ManifestBody, type ReceiptBody, type SignedDoc } from "./signed-document.ts";
import { identityFor } from "./test-fixtures.ts";
import { thrownCode } from "../testing/thrown-code.ts";

const client = identityFor("client web01");
const server = identityFor("server");
const hex = (c: string) => c.repeat(64);

const manifest: ManifestBody = {
  v: 1,
  kind: "manifest",
  client: "web01",
  name: "www",
  file: "backup-www-05-04-03-2025-06-17.tar.gz",
  archiveId: hex("a"),
  chunks: 3,
  rawSize: 150_000,
  fileSize: 40_000,
  fileSha256: hex("b"),
  createdAt: "2025-06-17T03:04:05.000Z",
};

const receipt: ReceiptBody = {
  v: 1,
  kind: "receipt",
  client: "web01",
  name: "www",
  file: manifest.file,
  archiveId: hex("a"),
  fileSha256: hex("b"),
  size: 40_000,
  storedAt: "2025-06-17T03:04:09.120Z",
};

/** A stored copy, as the client keeps receipts: JSON text on disk, parsed back. */
const throughDisk = (doc: SignedDoc): unknown => JSON.parse(JSON.stringify(doc));

describe("signed documents", () => {
  test("a manifest and a receipt verify with the signer's key, also after a trip through JSON", () => {
    const m = signDocument(manifest, client);
    expect(m.key).toBe(formatPublicKey(client.publicKey));
    expect(verifyDocument(throughDisk(m), client.publicKey, "manifest")).toEqual(manifest);
    const r = signDocument(receipt, server);
    expect(verifyDocument(throughDisk(r), server.publicKey, "receipt")).toEqual(receipt);
  });

  test("configHash is optional and kept", () => {
    const withHash = { ...manifest, configHash: hex("c") };
    expect(verifyDocument(signDocument(withHash, client), client.publicKey, "manifest").configHash).toBe(hex("c"));
  });

  test("a tampered body is UNAUTHORIZED", () => {
    const doc = signDocument(receipt, server);
    const tampered = { ...doc, body: doc.body.replace('"size":40000', '"size":40001') };
    expect(tampered.body).not.toBe(doc.body);
    expect(thrownCode(() => verifyDocument(tampered, server.publicKey, "receipt"))).toBe("UNAUTHORIZED");
  });

  test("a document from another key, or relabelled with the expected key, is UNAUTHORIZED", () => {
    const forged = signDocument(receipt, identityFor("mallory"));
    expect(thrownCode(() => verifyDocument(forged, server.publicKey, "receipt"))).toBe("UNAUTHORIZED");
    const relabelled = { ...forged, key: formatPublicKey(server.publicKey) };
    expect(thrownCode(() => verifyDocument(relabelled, server.publicKey, "receipt"))).toBe("UNAUTHORIZED");
  });

  test("a validly signed body of the wrong kind or shape is BAD_FRAME", () => {
    const m = signDocument(manifest, client);
    expect(thrownCode(() => verifyDocument(m, client.publicKey, "receipt"))).toBe("BAD_FRAME");
  });

  test("a receipt carries exactly one digest of the file: piecesSha256, or fileSha256 (made before it)", () => {
    const { fileSha256: _, ...withoutDigest } = receipt;
    const pieces = { ...withoutDigest, piecesSha256: hex("c") } as ReceiptBody;
    expect(verifyDocument(throughDisk(signDocument(pieces, server)), server.publicKey, "receipt")).toEqual(pieces);
    expect(verifyDocument(throughDisk(signDocument(receipt, server)), server.publicKey, "receipt")).toEqual(receipt);
    for (const bad of [withoutDigest, { ...receipt, piecesSha256: hex("c") }]) {
      expect(thrownCode(() => signDocument(bad as ReceiptBody, server))).toBe("INTERNAL");
    }
  });

  test("a malformed envelope is BAD_FRAME", () => {
    expect(thrownCode(() => verifyDocument({ body: "{}", sig: "x" }, client.publicKey, "manifest"))).toBe("BAD_FRAME");
    expect(thrownCode(() => verifyDocument("a string", client.publicKey, "manifest"))).toBe("BAD_FRAME");
  });

  test("signDocument refuses bodies a peer would refuse", () => {
    const bad: [Partial<ManifestBody>, string][] = [
      [{ name: "../../etc" }, "/name"],
      [{ file: "backup-other-05-04-03-2025-06-17.tar.gz" }, "not an archive of name www"],
      [{ file: "backup-www-05-04-03-2025-13-17.tar.gz" }, "/file"],
      [{ chunks: 2, rawSize: 2 * 256 * 1024 + 1 }, "rawSize"],
      [{ chunks: 5, rawSize: 4 }, "rawSize"],
      [{ createdAt: "yesterday" }, "/createdAt"],
      [{ archiveId: hex("A") }, "/archiveId"],
    ];
    for (const [change, word] of bad) {
      expect(() => signDocument({ ...manifest, ...change }, client)).toThrow(word);
    }
    expect(() => checkManifestBody({ ...manifest, extra: 1 })).toThrow("additional");
  });

  test("an empty archive (0 chunks, 0 raw bytes) is a valid manifest", () => {
    expect(checkManifestBody({ ...manifest, chunks: 0, rawSize: 0 }).chunks).toBe(0);
  });
});
