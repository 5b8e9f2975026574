// Control messages: every type accepted when valid, refused (BAD_FRAME, naming the type) when not.
import { describe, expect, test } from "bun:test";
import { HashRelayError } from "../errors.ts";
import { FrameType } from "./constants.ts";
import {
  busyFrame,
  decodeControl,
  decodeErrorFrame,
  encodeControl,
  errorFrame,
  errorMessage,
  peerErrorOf,
  retryAfterOf,
  type ControlMessage,
} from "./messages.ts";

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const doc = {
  body: '{"v":1}',
  sig: "A".repeat(86) + "==",
  key: "ed25519:" + "B".repeat(43) + "=",
};

const hex64 = "0123456789abcdef".repeat(4);

const valid: ControlMessage[] = [
  { type: "welcome", client: "web01", serverTime: 1_700_000_000_000 },
  { type: "welcome", client: "a".repeat(64), serverTime: 0 },
  { type: "ping", id: 7 },
  { type: "ping", id: 8, configHash: hex64 },
  { type: "pong", id: 7, serverTime: 1_700_000_000_000 },
  { type: "offer", name: "www" },
  { type: "offer", name: "a".repeat(64), archiveId: "0123456789abcdef".repeat(4) },
  { type: "have", receipt: doc },
  { type: "send-manifest" },
  { type: "send-manifest", damaged: "backup-www-05-04-03-2025-06-17.tar.gz" },
  { type: "commit", manifest: doc },
  { type: "receipt", receipt: doc },
  {
    type: "receipt",
    receipt: doc,
    held: {
      file: "backup-www-00-30-02-2026-11-26.tar.gz",
      since: "2026-11-26T02:30:00.000Z",
      reason: "shares 0% of its predecessor's data",
    },
  },
  { type: "have", receipt: doc, held: { file: "backup-www-00-30-02-2026-11-26.tar.zst", since: "2026-11-26T02:30:00Z", reason: "" } },
  { type: "error", code: "NO_SPACE", message: "storage full: 12 MiB free, 80 MiB needed" },
  { type: "bye" },
  { type: "fetching", file: "backup-www-00-30-02-2026-11-26.tar.gz", size: 4096, chunks: 2 },
  { type: "fetching", file: "backup-www-00-30-02-2026-11-26.tar.gz", size: 4096, chunks: 2, trashed: true, receipt: doc, manifest: doc },
];

/** Per type: raw JSON values that must be refused, and a word the error must contain. */
const invalid: Record<string, [unknown, string][]> = {
  welcome: [
    [{ type: "welcome", client: "../../etc", serverTime: 1 }, "/client"],
    [{ type: "welcome", client: "web01", serverTime: 1, extra: true }, "additional"],
    [{ type: "welcome", client: "x".repeat(65), serverTime: 1 }, "/client"],
    [{ type: "welcome", client: "Web01", serverTime: 1 }, "/client"],
  ],
  ping: [
    [{ type: "ping", id: "7" }, "/id"],
    [{ type: "ping", id: 1.5 }, "/id"],
    [{ type: "ping" }, "id"],
    [{ type: "ping", id: 1, configHash: hex64.toUpperCase() }, "/configHash"],
    [{ type: "ping", id: 1, configHash: "abc" }, "/configHash"],
  ],
  pong: [
    [{ type: "pong", id: 1 }, "serverTime"],
    [{ type: "pong", id: -1, serverTime: 2 }, "/id"],
  ],
  offer: [
    [{ type: "offer" }, "name"],
    [{ type: "offer", archiveId: hex64 }, "name"],
    [{ type: "offer", name: "../../etc" }, "/name"],
    [{ type: "offer", name: "" }, "/name"],
    [{ type: "offer", name: "w".repeat(65) }, "/name"],
    [{ type: "offer", name: 7 }, "/name"],
    [{ type: "offer", name: "www", archiveId: hex64.toUpperCase() }, "/archiveId"],
    [{ type: "offer", name: "www", archiveId: hex64.slice(1) }, "/archiveId"],
    [{ type: "offer", name: "www", archiveId: hex64 + "0" }, "/archiveId"],
    [{ type: "offer", name: "www", archiveId: "g".repeat(64) }, "/archiveId"],
    [{ type: "offer", name: "www", archiveId: "" }, "/archiveId"],
    [{ type: "offer", name: "www", archiveId: null }, "/archiveId"],
    // The version-1-draft shape: the manifest now travels with commit.
    [{ type: "offer", name: "www", manifest: doc }, "additional"],
    [{ type: "offer", manifest: doc }, "name"],
  ],
  have: [
    [{ type: "have", receipt: { body: doc.body, sig: doc.sig } }, "key"],
    [{ type: "have", receipt: doc, manifest: doc }, "additional"],
  ],
  "send-manifest": [
    [{ type: "send-manifest", chunks: 3 }, "additional"],
    [{ type: "send-manifest", damaged: "../backup-www-05-04-03-2025-06-17.tar.gz" }, "/damaged"],
  ],
  commit: [
    [{ type: "commit" }, "manifest"],
    [{ type: "commit", manifest: "signed" }, "/manifest"],
    [{ type: "commit", manifest: null }, "/manifest"],
    [{ type: "commit", manifest: { body: doc.body, sig: doc.sig } }, "key"],
    [{ type: "commit", manifest: { ...doc, key: "ed25519:short" } }, "/manifest/key"],
    [{ type: "commit", manifest: { ...doc, sig: "not base64!" } }, "/manifest/sig"],
    [{ type: "commit", manifest: { ...doc, body: "x".repeat(4097) } }, "/manifest/body"],
    [{ type: "commit", manifest: { ...doc, extra: 1 } }, "additional"],
    [{ type: "commit", manifest: doc, archiveId: hex64 }, "additional"],
  ],
  receipt: [
    [{ type: "receipt", receipt: { ...doc, sig: "not base64!" } }, "/receipt/sig"],
    [{ type: "receipt" }, "receipt"],
    [{ type: "receipt", receipt: doc, held: { file: "../etc/passwd", since: "2026-11-26T02:30:00Z", reason: "x" } }, "/held/file"],
    [
      {
        type: "receipt",
        receipt: doc,
        held: { file: "backup-www-00-30-02-2026-11-26.tar.gz", since: "2026-11-26T02:30:00Z", reason: "line\nbreak" },
      },
      "/held/reason",
    ],
    [{ type: "receipt", receipt: doc, held: { file: "backup-www-00-30-02-2026-11-26.tar.gz", reason: "x" } }, "since"],
  ],
  error: [
    [{ type: "error", code: "EVERYTHING", message: "x" }, "/code"],
    [{ type: "error", code: "BUSY", message: "x".repeat(1001) }, "/message"],
    [{ type: "error", code: "BUSY", message: "line\nbreak" }, "/message"],
    [{ type: "error", code: "BUSY" }, "message"],
  ],
  bye: [[{ type: "bye", reason: "done" }, "additional"]],
  fetching: [
    [{ type: "fetching", file: "backup-www-00-30-02-2026-11-26.tar.gz", size: 1, chunks: 1, receipt: "signed" }, "/receipt"],
    [
      { type: "fetching", file: "backup-www-00-30-02-2026-11-26.tar.gz", size: 1, chunks: 1, manifest: { ...doc, sig: "x" } },
      "/manifest/sig",
    ],
    [{ type: "fetching", file: "backup-www-00-30-02-2026-11-26.tar.gz", size: 1, chunks: 1, manifest: null }, "/manifest"],
  ],
};

function refusal(bytes: Uint8Array, from?: "client" | "server"): HashRelayError {
  try {
    decodeControl(bytes, from);
  } catch (err) {
    expect(err).toBeInstanceOf(HashRelayError);
    expect((err as HashRelayError).code).toBe("BAD_FRAME");
    return err as HashRelayError;
  }
  throw new Error(`accepted: ${new TextDecoder().decode(bytes)}`);
}

describe("control messages", () => {
  test("every message type round-trips", () => {
    for (const msg of valid) expect(decodeControl(encodeControl(msg))).toEqual(msg);
  });

  for (const [type, cases] of Object.entries(invalid)) {
    test(`invalid ${type} messages are refused with the type and the offending field named`, () => {
      for (const [value, word] of cases) {
        const err = refusal(json(value));
        expect(err.message).toContain(`bad ${type} message`);
        expect(err.message).toContain(word);
      }
    });
  }

  test("every type has at least one invalid case", () => {
    expect(Object.keys(invalid).sort()).toEqual([...new Set(valid.map((m) => m.type))].sort());
  });

  test("non-JSON, non-objects, invalid UTF-8 and unknown types are refused", () => {
    expect(refusal(new TextEncoder().encode("{not json")).message).toContain("not UTF-8 JSON");
    expect(refusal(new Uint8Array([0x7b, 0xff, 0x7d])).message).toContain("not UTF-8 JSON");
    expect(refusal(json([1, 2])).message).toContain("not a JSON object");
    expect(refusal(json(null)).message).toContain("not a JSON object");
    expect(refusal(json({ type: "format-disk" })).message).toContain("unknown control message type");
    expect(refusal(json({ type: 42 })).message).toContain("unknown control message type");
  });

  test("a message from the side that may not send it is refused", () => {
    expect(refusal(json({ type: "welcome", client: "web01", serverTime: 1 }), "client").message).toContain("only the server sends it");
    expect(refusal(json({ type: "commit", manifest: doc }), "server").message).toContain("only the client sends it");
    expect(refusal(json({ type: "offer", name: "www" }), "server").message).toContain("only the client sends it");
    expect(refusal(json({ type: "have", receipt: doc }), "client").message).toContain("only the server sends it");
    expect(decodeControl(json({ type: "bye" }), "server")).toEqual({ type: "bye" });
    expect(decodeControl(json({ type: "commit", manifest: doc }), "client")).toEqual({ type: "commit", manifest: doc });
    expect(decodeControl(json({ type: "offer", name: "www", archiveId: hex64 }), "client")).toEqual({
      type: "offer",
      name: "www",
      archiveId: hex64,
    });
  });

  test("encodeControl refuses to send an invalid message", () => {
    const bad = { type: "welcome", client: "../x", serverTime: 1 } as ControlMessage;
    expect(() => encodeControl(bad)).toThrow("refusing to send an invalid");
    const shortId = { type: "offer", name: "www", archiveId: "abc" } as ControlMessage;
    expect(() => encodeControl(shortId)).toThrow("/archiveId");
    const bare = { type: "commit" } as unknown as ControlMessage;
    expect(() => encodeControl(bare)).toThrow("manifest");
  });

  test("an offer without archiveId stays without it on the wire (absent, not null)", () => {
    const text = new TextDecoder().decode(encodeControl({ type: "offer", name: "www" }));
    expect(JSON.parse(text)).toEqual({ type: "offer", name: "www" });
    expect(text).not.toContain("archiveId");
  });
});

describe("errors on the wire", () => {
  test("errorMessage strips control characters and cuts to 1000 characters", () => {
    const msg = errorMessage("BAD_FRAME", "a\u001b[31mred\nline" + "x".repeat(2000));
    expect(msg.message).not.toMatch(/[\u0000-\u001f]/);
    expect(msg.message.length).toBe(1000);
    expect(decodeControl(encodeControl(msg))).toEqual(msg);
  });

  test("plaintext ERROR frames carry the error message JSON", () => {
    const frame = errorFrame("BUSY", "server busy");
    expect(frame.type).toBe(FrameType.ERROR);
    expect(JSON.parse(new TextDecoder().decode(frame.body))).toEqual({ type: "error", code: "BUSY", message: "server busy" });
    expect(decodeErrorFrame(frame).code).toBe("BUSY");
    expect(() => decodeErrorFrame({ type: FrameType.ERROR, body: json({ type: "bye" }) })).toThrow(HashRelayError);
  });

  test("a BUSY carries its retry hint at the end of a plain, valid error message; a long reason is cut, never the hint", () => {
    const frame = busyFrame("server busy: 64 sessions open", 1234.2);
    expect(decodeErrorFrame(frame)).toEqual({ type: "error", code: "BUSY", message: "server busy: 64 sessions open; retry after 1235 ms" });
    expect(retryAfterOf(decodeErrorFrame(frame).message)).toBe(1235);
    const long = decodeErrorFrame(busyFrame("x".repeat(5000), 10 ** 9)).message;
    expect(long.length).toBe(1000);
    expect(retryAfterOf(long)).toBe(600_000);
    expect(retryAfterOf(decodeErrorFrame(busyFrame("busy", 0)).message)).toBe(1);
    // An older server's BUSY, or anything not shaped like the hint, has none.
    for (const text of [
      "server busy: 64 sessions open",
      "retry after 5 ms",
      "busy; retry after 0 ms",
      "busy; retry after 600001 ms",
      "busy; retry after 5 ms.",
    ])
      expect(retryAfterOf(text)).toBeNull();
  });

  test("peerErrorOf hides UNAUTHORIZED reasons and local codes", () => {
    const unauthorized = new HashRelayError("UNAUTHORIZED", "unknown client key ed25519:abc");
    expect(peerErrorOf(unauthorized)).toEqual({ type: "error", code: "UNAUTHORIZED", message: "unauthorized" });
    expect(peerErrorOf(new HashRelayError("HASH_MISMATCH", "chunk 3 does not match its id"))?.message).toBe(
      "chunk 3 does not match its id",
    );
    expect(peerErrorOf(new HashRelayError("STORAGE", "/srv/backup/web01: EIO"))).toBeNull();
  });
});
