// JSON control messages (inside SEALED_CONTROL) and the plaintext ERROR frame: encode, decode, validate.
import { HashRelayError, isWireErrorCode, type WireErrorCode } from "../errors.ts";
import { AEAD_TAG_BYTES, FrameType, MAX_CONTROL_FRAME, MAX_ERROR_MESSAGE, MAX_RETRY_AFTER_MS } from "./constants.ts";
import type { Frame } from "./frame-codec.ts";
import type { FileDigest } from "./file-digest.ts";
import type { SignedDoc } from "./signed-document.ts";
import { CONTROL_TYPES, describeSchemaError, type ControlType } from "./wire-schemas.ts";
import { validateControl } from "./wire-validators.ts";

export type WelcomeMessage = { type: "welcome"; client: string; serverTime: number };
/** configHash: SHA-256 of the client's config file in force (attestation: the server records it per client). */
export type PingMessage = { type: "ping"; id: number; configHash?: string };
export type PongMessage = { type: "pong"; id: number; serverTime: number };
/** archiveId is set when the client believes the server already holds that archive (its tree did not change). */
/** format: the archive's member format (default "tar.gz"); chunks are deduplicated only against archives of the same format. */
export type OfferMessage = { type: "offer"; name: string; archiveId?: string; base?: string; format?: "tar.gz" | "tar.zst" };
/**
 * held: the server holds back the previous archive `file` of this name (a suspect replacement, e.g.
 * ransomware encrypted the source): it escapes retention until released on the server. Sent for as
 * long as the hold lasts.
 */
export type HeldArchive = { file: string; since: string; reason: string };
export type HaveMessage = { type: "have"; receipt: SignedDoc; held?: HeldArchive };
/** base: true when the server holds the offer's base archive, so pages may be diffs and chunks deltas against it. */
/** `damaged`: the offer claimed this stored archive, which the server knows is damaged: send it again (PROTOCOL.md §10 step 3). */
export type SendManifestMessage = { type: "send-manifest"; base?: boolean; damaged?: string; stream?: boolean };
export type CommitMessage = { type: "commit"; manifest: SignedDoc };
export type ReceiptMessage = { type: "receipt"; receipt: SignedDoc; held?: HeldArchive };
export type ErrorMessage = { type: "error"; code: WireErrorCode; message: string };
export type ByeMessage = { type: "bye" };
/** Restore: send back stored (or trashed) archive `file` of source `name`; `manifestOnly`: its chunk list only (verify). */
export type FetchMessage = { type: "fetch"; name: string; file: string; manifestOnly?: true };
/**
 * Answer to fetch: `chunks` manifest entries follow as MANIFEST pages, then (unless manifestOnly) every member as a CHUNK
 * frame, in order. `receipt`: the archive's receipt, signed by the server's identity in force; `manifest`: the manifest the
 * client signed when it was stored. With them a client without a kept receipt can anchor the archive (PROTOCOL.md §10 step 8).
 */
export type FetchingMessage = {
  type: "fetching";
  file: string;
  size: number;
  chunks: number;
  trashed?: true;
  receipt?: SignedDoc;
  manifest?: SignedDoc;
};
/** Proof of storage: answer SHA-256(nonce ‖ raw bytes of member `index`) for each item (PROTOCOL.md §14). */
export type ProveMessage = { type: "prove"; name: string; file: string; items: ProveItem[] };
/** One challenge: member `index`, answered with GMAC when `gmac` (PROTOCOL.md §14), else SHA-256. */
export type ProveItem = { index: number; nonce: string; gmac?: true };
/** One answer per item, in order: the hash, or why the member could not be read. */
export type ProofMessage = { type: "proof"; file: string; answers: ({ index: number; hash: string } | { index: number; error: string })[] };
/** name: only archives of this source. */
export type ListMessage = { type: "list"; name?: string };
/** One stored (or trashed) archive of the session's client. */
export type ListedArchive = {
  name: string;
  file: string;
  size: number;
  archiveId: string;
  storedAt: string;
  trashed?: true;
  purgeAt?: string;
} & FileDigest;
/** At most MAX_LISTING_PAGE archives; `more`: another listing follows. */
export type ListingMessage = { type: "listing"; archives: ListedArchive[]; more: boolean };

export type ControlMessage =
  | WelcomeMessage
  | PingMessage
  | PongMessage
  | OfferMessage
  | HaveMessage
  | SendManifestMessage
  | CommitMessage
  | ReceiptMessage
  | ErrorMessage
  | ByeMessage
  | ListMessage
  | ListingMessage
  | FetchMessage
  | FetchingMessage
  | ProveMessage
  | ProofMessage;

export type Sender = "client" | "server";

/** Who may send each message; a message from the wrong side is a BAD_FRAME. */
export const SENT_BY: Record<ControlType, Sender | "either"> = {
  welcome: "server",
  ping: "client",
  pong: "server",
  offer: "client",
  have: "server",
  "send-manifest": "server",
  commit: "client",
  receipt: "server",
  error: "either",
  bye: "either",
  list: "client",
  listing: "server",
  fetch: "client",
  fetching: "server",
  prove: "client",
  proof: "server",
};

/** Largest control plaintext: what still fits a SEALED_CONTROL body once the tag is added. */
export const MAX_CONTROL_PLAINTEXT = MAX_CONTROL_FRAME - AEAD_TAG_BYTES;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A quoted, shortened rendering of a peer-supplied value for error messages. */
function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? text.slice(0, 40) + "…" : text;
}

/**
 * UTF-8 JSON of a control message. Throws INTERNAL when `msg` fails its own schema (we never send
 * what the peer must refuse) and TOO_LARGE when it would not fit a SEALED_CONTROL frame.
 */
export function encodeControl(msg: ControlMessage): Uint8Array {
  const validate = validateControl[msg.type];
  if (!validate || !validate(msg)) {
    const why = validate ? describeSchemaError(validate.errors) : "unknown type";
    throw new HashRelayError("INTERNAL", `refusing to send an invalid ${quote(msg.type)} message: ${why}`);
  }
  const bytes = encoder.encode(JSON.stringify(msg));
  if (bytes.length > MAX_CONTROL_PLAINTEXT) {
    throw new HashRelayError("TOO_LARGE", `${msg.type} message of ${bytes.length} bytes exceeds ${MAX_CONTROL_PLAINTEXT}`);
  }
  return bytes;
}

/**
 * Parses, validates and returns one control message. `from`, when given, is the side that sent it:
 * a message that side may not send is refused. Throws BAD_FRAME naming the message type and the
 * first schema error.
 */
export function decodeControl(bytes: Uint8Array, from?: Sender): ControlMessage {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new HashRelayError("BAD_FRAME", "control message is not UTF-8 JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HashRelayError("BAD_FRAME", "control message is not a JSON object");
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== "string" || !(CONTROL_TYPES as string[]).includes(type)) {
    throw new HashRelayError("BAD_FRAME", `unknown control message type ${quote(type)}`);
  }
  const controlType = type as ControlType;
  const allowed = SENT_BY[controlType];
  if (from && allowed !== "either" && allowed !== from) {
    throw new HashRelayError("BAD_FRAME", `${controlType} message from the ${from}: only the ${allowed} sends it`);
  }
  const validate = validateControl[controlType];
  if (!validate(value)) {
    throw new HashRelayError("BAD_FRAME", `bad ${controlType} message: ${describeSchemaError(validate.errors)}`);
  }
  return value as ControlMessage;
}

/** An error message safe to send: control characters replaced, text cut to MAX_ERROR_MESSAGE characters. */
export function errorMessage(code: WireErrorCode, text: string): ErrorMessage {
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, " ");
  return { type: "error", code, message: Array.from(clean).slice(0, MAX_ERROR_MESSAGE).join("") };
}

/**
 * What the peer may learn about a local failure: UNAUTHORIZED always reads "unauthorized" (the reason
 * stays in our log); other wire codes keep their message; codes that are not wire codes give null
 * (close without a message).
 */
export function peerErrorOf(err: HashRelayError): ErrorMessage | null {
  if (err.code === "UNAUTHORIZED") return errorMessage("UNAUTHORIZED", "unauthorized");
  if (!isWireErrorCode(err.code)) return null;
  return errorMessage(err.code, err.message);
}

/** A plaintext ERROR frame (used before session keys exist: BUSY, VERSION, BAD_FRAME, UNAUTHORIZED). */
export function errorFrame(code: WireErrorCode, message: string): Frame {
  return { type: FrameType.ERROR, body: encodeControl(errorMessage(code, message)) };
}

/**
 * The retry hint that ends a plaintext BUSY's message (PROTOCOL.md §3): "; retry after N ms". It
 * travels in the text, not in a field of its own, so a client that predates it still reads a valid BUSY.
 */
const RETRY_HINT = /; retry after ([1-9][0-9]{0,5}) ms$/;

/** A plaintext BUSY ERROR frame: `reason`, then the hint (whole ms, 1 to MAX_RETRY_AFTER_MS) after which to try again. */
export function busyFrame(reason: string, retryAfterMs: number): Frame {
  const ms = Math.min(MAX_RETRY_AFTER_MS, Math.max(1, Math.ceil(retryAfterMs)));
  const hint = `; retry after ${ms} ms`;
  return errorFrame(
    "BUSY",
    Array.from(reason)
      .slice(0, MAX_ERROR_MESSAGE - hint.length)
      .join("") + hint,
  );
}

/** The retry hint of a BUSY message in ms, or null when it carries none (a server that predates it). */
export function retryAfterOf(message: string): number | null {
  const match = RETRY_HINT.exec(message);
  const ms = match ? Number(match[1]) : Number.NaN;
  return ms >= 1 && ms <= MAX_RETRY_AFTER_MS ? ms : null;
}

/** Decodes a plaintext ERROR frame's body; throws BAD_FRAME when it is not a valid `error` message. */
export function decodeErrorFrame(frame: Frame): ErrorMessage {
  if (frame.type !== FrameType.ERROR) throw new HashRelayError("BAD_FRAME", `expected an ERROR frame, got type ${frame.type}`);
  const msg = decodeControl(frame.body);
  if (msg.type !== "error") throw new HashRelayError("BAD_FRAME", `ERROR frame carries a ${msg.type} message`);
  return msg;
}
