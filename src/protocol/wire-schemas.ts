// JSON Schemas (2020-12, ajv strict) of every JSON value on the wire, and the wording of their errors (wire-validators.ts compiles them).
import type { ErrorObject } from "ajv";
import { WIRE_ERROR_CODES } from "../errors.ts";
import {
  MAX_CHUNKS_PER_ARCHIVE,
  MAX_DOCUMENT_BODY,
  MAX_ERROR_MESSAGE,
  MAX_LISTING_PAGE,
  MAX_NAME_LENGTH,
  MAX_PROOF_ITEMS,
  SHA256_HEX,
} from "./constants.ts";

/** Client and source names: what @sindresorhus/slugify produces, so never "..", "/" or an empty string. */
export const SLUG_PATTERN = "^[a-z0-9]+(?:-[a-z0-9]+)*$";
/** backup-NAME-NOW.tar.gz (or .tar.zst) with NOW = SS-MM-HH-YYYY-MM-DD (UTC). */
export const ARCHIVE_FILE_PATTERN =
  "^backup-[a-z0-9]+(?:-[a-z0-9]+)*-[0-5][0-9]-[0-5][0-9]-(?:[01][0-9]|2[0-3])-[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])\\.tar\\.(?:gz|zst)$";
/** UTC timestamps as Date.prototype.toISOString writes them. */
export const ISO_UTC_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]{1,9})?Z$";

const slug = { type: "string", minLength: 1, maxLength: MAX_NAME_LENGTH, pattern: SLUG_PATTERN };
const hex256 = { type: "string", pattern: SHA256_HEX.source };
const count = { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const isoTime = { type: "string", pattern: ISO_UTC_PATTERN };
const chunkIndex = { type: "integer", minimum: 0, maximum: MAX_CHUNKS_PER_ARCHIVE - 1 };
const archiveFile = { type: "string", maxLength: 255, pattern: ARCHIVE_FILE_PATTERN };

export const signedDocSchema = {
  type: "object",
  additionalProperties: false,
  required: ["body", "sig", "key"],
  properties: {
    body: { type: "string", minLength: 2, maxLength: MAX_DOCUMENT_BODY },
    sig: { type: "string", pattern: "^[A-Za-z0-9+/]{86}==$" },
    key: { type: "string", pattern: "^ed25519:[A-Za-z0-9+/]{43}=$" },
  },
};

export const manifestBodySchema = {
  type: "object",
  additionalProperties: false,
  // fileSize/fileSha256 only when the client compressed every chunk itself (it compresses only what travels).
  required: ["v", "kind", "client", "name", "file", "archiveId", "chunks", "rawSize", "createdAt"],
  properties: {
    v: { const: 1 },
    kind: { const: "manifest" },
    client: slug,
    name: slug,
    file: archiveFile,
    archiveId: hex256,
    chunks: { type: "integer", minimum: 0, maximum: MAX_CHUNKS_PER_ARCHIVE },
    rawSize: count,
    fileSize: count,
    fileSha256: hex256,
    createdAt: isoTime,
    configHash: hex256,
  },
};

/** A receipt's digest of the file, one of two (PROTOCOL.md §7.3): `oneOf` these in a receipt. */
const digestRequired = [
  { type: "object", required: ["piecesSha256"], properties: { piecesSha256: hex256 } },
  { type: "object", required: ["fileSha256"], properties: { fileSha256: hex256 } },
];

export const receiptBodySchema = {
  type: "object",
  additionalProperties: false,
  required: ["v", "kind", "client", "name", "file", "archiveId", "size", "storedAt"],
  // exactly one digest of the file (PROTOCOL.md §7.3)
  oneOf: digestRequired,
  properties: {
    v: { const: 1 },
    kind: { const: "receipt" },
    client: slug,
    name: slug,
    file: archiveFile,
    archiveId: hex256,
    piecesSha256: hex256,
    fileSha256: hex256,
    size: count,
    storedAt: isoTime,
  },
};

/** One archive in a `listing`: trashed ones carry `trashed: true` and the time the trash purge deletes them. */
const listedArchive = {
  type: "object",
  additionalProperties: false,
  required: ["name", "file", "size", "archiveId", "storedAt"],
  // the digest its receipt has; a trashed archive known only by scanning it: both
  anyOf: digestRequired,
  properties: {
    name: slug,
    file: archiveFile,
    size: count,
    archiveId: hex256,
    piecesSha256: hex256,
    fileSha256: hex256,
    storedAt: isoTime,
    trashed: { const: true },
    purgeAt: isoTime,
  },
};

/** A held archive in `have` and `receipt` (messages.ts HeldArchive). */
const heldArchive = {
  type: "object",
  additionalProperties: false,
  required: ["file", "since", "reason"],
  properties: { file: archiveFile, since: isoTime, reason: { type: "string", maxLength: 300, pattern: "^[^\\u0000-\\u001f\\u007f]*$" } },
};

/** A control message schema: `type` fixed, the listed fields required, nothing else allowed. */
function message(type: string, fields: Record<string, object> = {}, optional: Record<string, object> = {}): object {
  return {
    type: "object",
    additionalProperties: false,
    required: ["type", ...Object.keys(fields)],
    properties: { type: { const: type }, ...fields, ...optional },
  };
}

export const controlSchemas = {
  welcome: message("welcome", { client: slug, serverTime: count }),
  ping: message("ping", { id: count }, { configHash: hex256 }),
  pong: message("pong", { id: count, serverTime: count }),
  offer: message("offer", { name: slug }, { archiveId: hex256, base: hex256, format: { enum: ["tar.gz", "tar.zst"] } }),
  have: message("have", { receipt: signedDocSchema }, { held: heldArchive }),
  "send-manifest": message("send-manifest", {}, { base: { type: "boolean" }, damaged: archiveFile, stream: { type: "boolean" } }),
  commit: message("commit", { manifest: signedDocSchema }),
  receipt: message("receipt", { receipt: signedDocSchema }, { held: heldArchive }),
  error: message("error", {
    code: { enum: [...WIRE_ERROR_CODES] },
    // No control characters: the text ends up in logs and terminals.
    message: { type: "string", maxLength: MAX_ERROR_MESSAGE, pattern: "^[^\\u0000-\\u001f\\u007f]*$" },
  }),
  bye: message("bye"),
  list: message("list", {}, { name: slug }),
  fetch: message("fetch", { name: slug, file: archiveFile }, { manifestOnly: { const: true } }),
  prove: message("prove", {
    name: slug,
    file: archiveFile,
    items: {
      type: "array",
      minItems: 1,
      maxItems: MAX_PROOF_ITEMS,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["index", "nonce"],
        properties: { index: chunkIndex, nonce: hex256, gmac: { const: true } },
      },
    },
  }),
  proof: message("proof", {
    file: archiveFile,
    answers: {
      type: "array",
      maxItems: MAX_PROOF_ITEMS,
      items: {
        oneOf: [
          { type: "object", additionalProperties: false, required: ["index", "hash"], properties: { index: chunkIndex, hash: hex256 } },
          {
            type: "object",
            additionalProperties: false,
            required: ["index", "error"],
            properties: { index: chunkIndex, error: { type: "string", maxLength: 200, pattern: "^[^\\u0000-\\u001f\\u007f]*$" } },
          },
        ],
      },
    },
  }),
  fetching: message(
    "fetching",
    { file: archiveFile, size: count, chunks: { type: "integer", minimum: 0, maximum: MAX_CHUNKS_PER_ARCHIVE } },
    { trashed: { const: true }, receipt: signedDocSchema, manifest: signedDocSchema },
  ),
  listing: message("listing", { archives: { type: "array", maxItems: MAX_LISTING_PAGE, items: listedArchive }, more: { type: "boolean" } }),
} as const;

export type ControlType = keyof typeof controlSchemas;
export const CONTROL_TYPES = Object.keys(controlSchemas) as ControlType[];

/** "/manifest/key must match pattern ..." for the first error ajv reports. */
export function describeSchemaError(errors: ErrorObject[] | null | undefined): string {
  const first = errors?.[0];
  if (!first) return "invalid";
  const where = first.instancePath || "/";
  const extra =
    first.keyword === "additionalProperties"
      ? ` (${JSON.stringify(String((first.params as { additionalProperty?: unknown }).additionalProperty)).slice(0, 60)})`
      : "";
  return `${where} ${first.message ?? first.keyword}${extra}`;
}
