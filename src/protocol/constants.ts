// Protocol v1 numbers: "spec" values every implementation must share, "implementation" values this one chose.

// ---- spec (PROTOCOL.md) ----
export const PROTOCOL_VERSION = 1;
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
/** AES-256-GCM tag length. */
export const AEAD_TAG_BYTES = 16;
/** Manifest entries per MANIFEST page: 32-byte id + u32 raw length each. */
export const MANIFEST_PAGE_ENTRIES = 16384;
export const MANIFEST_ENTRY_BYTES = 36;

// ---- implementation ----
export const HANDSHAKE_TIMEOUT_MS = 10_000;
export const IDLE_TIMEOUT_MS = 60_000;
export const MAX_CONNECTIONS = 64;
/** An archive may hold at most this many chunks (bounds server memory per offer). */
export const MAX_CHUNKS_PER_ARCHIVE = 1 << 24;
