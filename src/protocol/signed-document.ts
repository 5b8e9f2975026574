// Ed25519-signed JSON documents (manifests from clients, receipts from the server), checkable without a session.
import nacl from "tweetnacl";
import { HashRelayError } from "../errors.ts";
import { CHUNK_MAX, LABEL_DOCUMENT } from "./constants.ts";
import type { FileDigest } from "./file-digest.ts";
import { formatPublicKey, parsePublicKey, type Identity } from "./identity.ts";
import { describeSchemaError } from "./wire-schemas.ts";
import { validateManifestBody, validateReceiptBody, validateSignedDoc } from "./wire-validators.ts";

/** body is the exact JSON text that was signed; sig is base64 of the 64-byte signature; key is "ed25519:...". */
export interface SignedDoc {
  body: string;
  sig: string;
  key: string;
}

/** What a client declares about one archive before sending it. */
export interface ManifestBody {
  v: 1;
  kind: "manifest";
  client: string;
  name: string;
  file: string;
  archiveId: string;
  chunks: number;
  rawSize: number;
  fileSize?: number;
  fileSha256?: string;
  createdAt: string;
  configHash?: string;
}

/** What the server attests once an archive is stored under its final name (with one digest of the file, file-digest.ts). */
export type ReceiptBody = {
  v: 1;
  kind: "receipt";
  client: string;
  name: string;
  file: string;
  archiveId: string;
  size: number;
  storedAt: string;
} & FileDigest;

export type DocumentKind = "manifest" | "receipt";
export type DocumentBody<K extends DocumentKind> = K extends "manifest" ? ManifestBody : ReceiptBody;

const encoder = new TextEncoder();
const prefix = encoder.encode(LABEL_DOCUMENT);

function signedBytes(body: string): Uint8Array {
  const text = encoder.encode(body);
  const out = new Uint8Array(prefix.length + text.length);
  out.set(prefix, 0);
  out.set(text, prefix.length);
  return out;
}

/** The file name must be backup-<name>-<NOW>.tar.gz (or .tar.zst) for this very name (the schema checked the shape). */
function checkFileBelongsToName(kind: DocumentKind, value: { file: string; name: string }): void {
  const expectedStart = `backup-${value.name}-`;
  const now = "SS-MM-HH-YYYY-MM-DD".length;
  const ext = value.file.endsWith(".tar.zst") ? ".tar.zst".length : ".tar.gz".length;
  if (!value.file.startsWith(expectedStart) || value.file.length !== expectedStart.length + now + ext) {
    throw new HashRelayError("BAD_FRAME", `${kind} file ${JSON.stringify(value.file)} is not an archive of name ${value.name}`);
  }
}

function checkTime(kind: DocumentKind, field: string, text: string): void {
  if (Number.isNaN(Date.parse(text))) {
    throw new HashRelayError("BAD_FRAME", `${kind} ${field} ${JSON.stringify(text)} is not a valid time`);
  }
}

/**
 * Validates an untrusted value as a manifest body: the schema, then the relations between fields
 * (file named after name, 1 to CHUNK_MAX raw bytes per chunk). Throws BAD_FRAME naming the first problem.
 */
export function checkManifestBody(value: unknown): ManifestBody {
  if (!validateManifestBody(value)) {
    throw new HashRelayError("BAD_FRAME", `bad manifest: ${describeSchemaError(validateManifestBody.errors)}`);
  }
  const body = value as ManifestBody;
  checkFileBelongsToName("manifest", body);
  checkTime("manifest", "createdAt", body.createdAt);
  if (body.rawSize < body.chunks || body.rawSize > body.chunks * CHUNK_MAX) {
    throw new HashRelayError(
      "BAD_FRAME",
      `bad manifest: rawSize ${body.rawSize} cannot be cut into ${body.chunks} chunks of 1 to ${CHUNK_MAX} bytes`,
    );
  }
  return body;
}

/** Validates an untrusted value as a receipt body; throws BAD_FRAME naming the first problem. */
export function checkReceiptBody(value: unknown): ReceiptBody {
  if (!validateReceiptBody(value)) {
    throw new HashRelayError("BAD_FRAME", `bad receipt: ${describeSchemaError(validateReceiptBody.errors)}`);
  }
  const body = value as ReceiptBody;
  checkFileBelongsToName("receipt", body);
  checkTime("receipt", "storedAt", body.storedAt);
  return body;
}

function checkBody<K extends DocumentKind>(kind: K, value: unknown): DocumentBody<K> {
  return (kind === "manifest" ? checkManifestBody(value) : checkReceiptBody(value)) as DocumentBody<K>;
}

/**
 * Signs `value` (serialized once with JSON.stringify; that text is what is signed and kept).
 * Throws INTERNAL when the value is not a valid body of its kind: we never sign what a peer would refuse.
 */
export function signDocument(value: ManifestBody | ReceiptBody, identity: Identity): SignedDoc {
  try {
    checkBody(value.kind, value);
  } catch (err) {
    throw new HashRelayError("INTERNAL", `refusing to sign an invalid ${value.kind}: ${(err as Error).message}`, "", { cause: err });
  }
  const body = JSON.stringify(value);
  const sig = nacl.sign.detached(signedBytes(body), identity.secretKey);
  return { body, sig: Buffer.from(sig).toString("base64"), key: formatPublicKey(identity.publicKey) };
}

/**
 * Checks a signed document and returns its body: the envelope shape (BAD_FRAME), the signer is
 * `expectedKey` (UNAUTHORIZED), the signature (UNAUTHORIZED), then the body as a `kind` (BAD_FRAME).
 * Works on a document read back from disk as well as one fresh off the wire.
 */
export function verifyDocument<K extends DocumentKind>(doc: unknown, expectedKey: Uint8Array, kind: K): DocumentBody<K> {
  if (!validateSignedDoc(doc)) {
    throw new HashRelayError("BAD_FRAME", `bad signed ${kind}: ${describeSchemaError(validateSignedDoc.errors)}`);
  }
  const { body, sig, key } = doc as SignedDoc;
  const expected = formatPublicKey(expectedKey);
  const signer = parsePublicKey(key);
  if (!signer || key !== expected) {
    throw new HashRelayError("UNAUTHORIZED", `${kind} signed by ${key}, expected ${expected}`);
  }
  const signature = new Uint8Array(Buffer.from(sig, "base64"));
  if (signature.length !== nacl.sign.signatureLength || !nacl.sign.detached.verify(signedBytes(body), signature, signer)) {
    throw new HashRelayError("UNAUTHORIZED", `${kind} signature by ${key} does not verify (document altered?)`);
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new HashRelayError("BAD_FRAME", `signed ${kind} body is not JSON`);
  }
  return checkBody(kind, value);
}
