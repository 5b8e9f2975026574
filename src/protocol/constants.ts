// Protocol v1 numbers: "spec" values every implementation must share, "implementation" values this one chose.

// ---- spec (PROTOCOL.md) ----
export const PROTOCOL_VERSION = 6;
/**
 * The first version whose client saves round trips by pipelining (PROTOCOL.md §12): its probe `ping` right
 * behind its AUTH, a manifest page before the NEED of the page before it, a page's HASH_REQUEST before its
 * NEED, the tick's closing `ping` right behind its last `commit`.
 */
export const PIPELINED_VERSION = 5;
/** The first version whose whole chunks may travel as one zstd stream per upload (PROTOCOL.md §8.10): CHUNK_STREAM. */
export const STREAM_VERSION = 6;
/**
 * A client whose shortest timed round trip (HELLO, AUTH to welcome, offer to answer) is at least this long
 * takes its link for a WAN, where whole chunks go as a stream. Each timing holds the server's work on it (its
 * signature: ~8 ms here) and the client's own event-loop waits, the least of three the fewest: 50 ms RTT
 * times 55-60 ms, loopback under 15 ms.
 */
export const STREAM_MIN_RTT_MS = 40;
/** The oldest version this side still speaks (PROTOCOL.md §12): a version-2 peer keeps working. */
export const OLDEST_PROTOCOL_VERSION = 2;
/** Magic at the start of both HELLO bodies: ASCII "HRLY". */
export const MAGIC = new Uint8Array([0x48, 0x52, 0x4c, 0x59]);
/** Frame header: u32 big-endian length (type byte + body) then u8 type. */
export const FRAME_HEADER_BYTES = 5;

export const FrameType = {
  HELLO: 0x01, // plaintext: identity, ephemeral key, nonce
  AUTH: 0x02, // plaintext: signature over the transcript hash
  ERROR: 0x0f, // plaintext error, only before session keys exist
  SEALED_CONTROL: 0x10, // AEAD(JSON control message)
  SEALED_MANIFEST: 0x11, // AEAD(manifest page, binary)
  SEALED_NEED: 0x12, // AEAD(need bitmap, binary)
  SEALED_CHUNK: 0x13, // AEAD(u32 index + gzip member)
  SEALED_MANIFEST_DIFF: 0x14, // AEAD(manifest page as copies from the base manifest + new entries)
  SEALED_CHUNK_DELTA: 0x15, // AEAD(u32 index + raw-deflate(copy/literal ops over chunks the server holds))
  SEALED_CONTEXT_DELTA: 0x16, // AEAD(u32 index + ops + literal runs deflated with the chunk's neighbouring bytes as dictionary)
  SEALED_HASH_REQUEST: 0x17, // version 3: AEAD(u32 page firstIndex + ranges of base chunks whose sub-block hashes the client asks for)
  SEALED_SUB_HASHES: 0x18, // version 3: AEAD(u32 page firstIndex + 8-byte hashes of the sub-blocks asked for)
  SEALED_DELTA_BATCH: 0x19, // version 3: AEAD(several chunks' deltas: their ops in one deflate stream, their literal bytes in another)
  SEALED_CHUNK_STREAM: 0x1a, // version 6: AEAD(u32 index + the bytes of the upload's zstd stream that carry the chunk)
} as const;
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** Largest frame of any control-ish type (plaintext handshake, control, manifest, need). */
export const MAX_CONTROL_FRAME = 1024 * 1024;
/** Chunk bounds of the content-defined chunker (raw bytes). */
export const CHUNK_MIN = 16 * 1024;
export const CHUNK_AVG = 64 * 1024;
export const CHUNK_MAX = 256 * 1024;
/** A chunk frame carries a gzip member of at most CHUNK_MAX raw bytes: member overhead stays far below 1 KiB. */
export const MAX_CHUNK_FRAME = CHUNK_MAX + 1024;
/** Distinct stored chunks one CHUNK_DELTA may copy from (a client sends the whole chunk rather than exceed it). */
export const MAX_DELTA_SOURCES = 16;
/** Sub-blocks whose hashes a version-3 client asks for (PROTOCOL.md §8.8): bytes each, and bytes of each hash. */
export const SUB_BLOCK = 64;
export const SUB_HASH_BYTES = 8;
/** One HASH_REQUEST names at most this many ranges, and asks for at most this many hashes in all (§8.8). */
export const MAX_HASH_RANGES = 8192;
export const MAX_SUB_HASHES = 65_536;
/** AES-256-GCM tag length. */
export const AEAD_TAG_BYTES = 16;
/** Manifest entries per MANIFEST page: 32-byte id + u32 raw length each. */
export const MANIFEST_PAGE_ENTRIES = 16384;
export const MANIFEST_ENTRY_BYTES = 36;

// ---- implementation ----
export const HANDSHAKE_TIMEOUT_MS = 10_000;
export const IDLE_TIMEOUT_MS = 60_000;
export const MAX_CONNECTIONS = 64;
/** How long a client waits for the answer to `commit` (the server assembles, fsyncs and verifies the whole archive). */
export const COMMIT_TIMEOUT_MS = 30 * 60_000;
/**
 * An archive may hold at most this many chunks: 2^28, 16 TiB at the average chunk, so that a source
 * of 1 TiB is far from the limit (the server pages member tables; it holds 37 bytes per entry of an
 * upload in progress).
 */
export const MAX_CHUNKS_PER_ARCHIVE = 1 << 28;

// ---- spec, added with the wire protocol (PROTOCOL.md) ----
/** HELLO body: magic 4 | version 1 | role 1 | identity 32 | ephemeral 32 | nonce 32. */
export const HELLO_BYTES = 102;
/** AUTH body: one Ed25519 detached signature. */
export const AUTH_BYTES = 64;
export const Role = { CLIENT: 1, SERVER: 2 } as const;
export type RoleValue = (typeof Role)[keyof typeof Role];
/** AES-256-GCM nonce: 4 zero bytes then the u64 big-endian frame counter. */
export const AEAD_NONCE_BYTES = 12;
/** Domain-separation labels (ASCII, no terminator) prefixed to whatever is hashed, signed or derived. */
export const LABEL_TRANSCRIPT = "hashrelay/1 transcript";
export const LABEL_AUTH = "hashrelay/1 auth";
export const LABEL_SESSION_KEYS = "hashrelay/1 session keys";
export const LABEL_DOCUMENT = "hashrelay/1 doc";
/** Prefix of an archive's pieces digest (PROTOCOL.md §7.3): what a receipt's `piecesSha256` hashes. */
export const LABEL_PIECES = "hashrelay/1 pieces";
/** Longest client or source name (a slug) on the wire; the same bound as config/slug.ts MAX_SLUG_LENGTH. */
export const MAX_NAME_LENGTH = 64;
/** Longest `message` of an error, in characters. */
export const MAX_ERROR_MESSAGE = 1000;
/** Longest wait a BUSY's retry hint may ask for (PROTOCOL.md §3). */
export const MAX_RETRY_AFTER_MS = 600_000;
/** Longest signed document body (the JSON text that was signed), in characters. */
export const MAX_DOCUMENT_BODY = 4096;
/** Most archives in one `listing` message; a longer listing continues in further messages (`more`). */
export const MAX_LISTING_PAGE = 1000;

// ---- spec, proof of storage (PROTOCOL.md §14) ----
/** Domain label of the client's secret nonce derivation (HMAC-SHA-256 key = the client's proof secret). */
export const LABEL_PROOF_NONCE = "hashrelay/1 proof nonce";
/** Bytes of a challenge nonce; the server answers SHA-256(nonce ‖ chunk's raw bytes). */
export const PROOF_NONCE_BYTES = 32;
/** Rounds from this one on are answered with GMAC (PROTOCOL.md §14), those below with SHA-256. */
export const GMAC_FIRST_ROUND = 2 ** 31;
/** Most challenges in one `prove` message (and answers in one `proof`). */
export const MAX_PROOF_ITEMS = 256;

// ---- implementation, proof of storage ----
/** Answers a client keeps per chunk each time it reads the chunk (one is spent per challenge). */
export const PROOF_ROUNDS = 4;
/** Bytes of an answer the client keeps (a SHA-256 prefix: 128 bits cannot be guessed). */
export const PROOF_TOKEN_BYTES = 16;
/** Chunks a plain `hashrelay verify` challenges per archive, besides the first and the last. */
export const PROOF_SAMPLE = 32;

/** A SHA-256 as text: chunk ids, archive ids, file hashes, audit hashes (64 lower-case hex digits). */
export const SHA256_HEX = /^[0-9a-f]{64}$/;
