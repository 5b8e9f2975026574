// What an archive id is checked against on restore and verify (PROTOCOL.md §10 step 8): a kept receipt, or what the server keeps beside the archive.
import { HashRelayError } from "../errors.ts";
import { formatPublicKey, parsePublicKey } from "../protocol/identity.ts";
import type { FetchingMessage } from "../protocol/messages.ts";
import { verifyDocument, type ManifestBody, type ReceiptBody, type SignedDoc } from "../protocol/signed-document.ts";
import type { CheckedReceipt } from "./kept-receipt.ts";

/**
 * kept-receipt: the receipt this client kept. client-manifest: the manifest signed by this client's key
 * (or by the old client key its user vouched for), with the server's receipt. server-receipt: the
 * server's receipt alone (the manifest is signed by a key nobody vouched for, or was not kept).
 */
export type AnchorKind = "kept-receipt" | "client-manifest" | "server-receipt";

export interface ArchiveAnchor {
  kind: AnchorKind;
  /** The archive id, file SHA-256 and size everything is checked against. */
  receipt: ReceiptBody;
  /** What anchors it, with the key, in a phrase: "the manifest signed by this client's key ed25519:…". */
  says: string;
}

/** Who the restoring client is: its name on the server and the keys it trusts. */
export interface AnchorKeys {
  /** The client's name on the server (`welcome.client`). */
  client: string;
  /** The pinned server key. */
  serverKey: Uint8Array;
  /** This client's own public key. */
  ownKey: Uint8Array;
  /** The key of the client that made the backup, when its user kept it (`--client-key`). */
  vouchedKey?: Uint8Array;
}

/** The key `--client-key TEXT` gives, or undefined without one. Throws USAGE when TEXT is no "ed25519:<base64>" key. */
export function vouchedKeyOf(text: string | undefined): Uint8Array | undefined {
  if (text === undefined) return undefined;
  const key = parsePublicKey(text);
  if (!key)
    throw new HashRelayError(
      "USAGE",
      `--client-key ${JSON.stringify(text)} is not an ed25519:<base64> public key`,
      "the public line of the old client key file (# public: ed25519:…), or what hashrelay keygen printed",
    );
  return key;
}

/** The anchor of archive `target`: the receipt this client kept when there is one (`kept`), else what `fetching` carries (serverAnchor). */
export function anchorOf(
  kept: CheckedReceipt | null,
  head: FetchingMessage,
  target: { name: string; file: string },
  keys: AnchorKeys,
): ArchiveAnchor {
  return kept ? keptAnchor(kept) : serverAnchor(head, target, keys);
}

/** The anchor a kept receipt gives. */
export function keptAnchor(kept: CheckedReceipt): ArchiveAnchor {
  const until = kept.signer.until ? `, the server key this client pinned until ${kept.signer.until}` : "";
  return { kind: "kept-receipt", receipt: kept.body, says: `the receipt this client kept (signed by ${kept.signer.key}${until})` };
}

/**
 * The anchor `fetching` gives for archive `file` of `name` when this client kept no receipt: its receipt,
 * checked with the pinned server key and naming this client and archive, and its manifest, checked with
 * the key it names and agreeing with the receipt. Throws USAGE when the server sent no receipt,
 * UNAUTHORIZED on a bad signature or a manifest not signed by the vouched key, HASH_MISMATCH when the
 * documents name another client or archive.
 */
export function serverAnchor(head: FetchingMessage, target: { name: string; file: string }, keys: AnchorKeys): ArchiveAnchor {
  const { file } = target;
  if (!head.receipt)
    throw new HashRelayError(
      "USAGE",
      `no kept receipt for ${file}, and the server sent none`,
      "run this on the client that made the backup, with its state folder, or update the server (it keeps receipts beside archives)",
    );
  const receipt = verifyDocument(head.receipt, keys.serverKey, "receipt");
  if (receipt.client !== keys.client || receipt.name !== target.name || receipt.file !== file)
    throw new HashRelayError("HASH_MISMATCH", `the server's receipt for ${file} is for ${receipt.client}/${receipt.file}`);
  const serverKey = formatPublicKey(keys.serverKey);
  if (!head.manifest)
    return {
      kind: "server-receipt",
      receipt,
      says: `the server's receipt alone (signed by the pinned server key ${serverKey}): ${file} was stored before the server kept the client's signed manifest`,
    };
  const { signer, manifest } = checkManifest(head.manifest, receipt);
  if (signer === formatPublicKey(keys.ownKey))
    return { kind: "client-manifest", receipt, says: `the manifest signed by this client's key ${signer}` };
  if (keys.vouchedKey) {
    const vouched = formatPublicKey(keys.vouchedKey);
    if (signer !== vouched)
      throw new HashRelayError(
        "UNAUTHORIZED",
        `the manifest of ${file} is signed by ${signer}, not by the client key you gave (${vouched})`,
      );
    return {
      kind: "client-manifest",
      receipt,
      says: `the manifest signed by the client key you gave (${signer}), created ${manifest.createdAt}`,
    };
  }
  return {
    kind: "server-receipt",
    receipt,
    says: `the server's receipt (signed by the pinned server key ${serverKey}); the manifest is signed by ${signer}, not this client's key: pass --client-key ${signer} if you kept that key`,
  };
}

/** The manifest, verified with the key it names, and that key; throws UNAUTHORIZED (signature) or HASH_MISMATCH (it disagrees with the receipt). */
function checkManifest(doc: SignedDoc, receipt: ReceiptBody): { signer: string; manifest: ManifestBody } {
  const key = parsePublicKey(doc.key);
  if (!key) throw new HashRelayError("BAD_FRAME", `the manifest of ${receipt.file} names no valid key`);
  const manifest = verifyDocument(doc, key, "manifest");
  if (
    manifest.client !== receipt.client ||
    manifest.name !== receipt.name ||
    manifest.file !== receipt.file ||
    manifest.archiveId !== receipt.archiveId
  )
    throw new HashRelayError(
      "HASH_MISMATCH",
      `the manifest of ${receipt.file} (${manifest.client}/${manifest.file}, archive id ${manifest.archiveId}) disagrees with the server's receipt (archive id ${receipt.archiveId})`,
    );
  return { signer: doc.key, manifest };
}
