// The `list` / `listing` control messages: schema bounds and the page size against the control frame limit.
import { describe, expect, test } from "bun:test";
import { MAX_LISTING_PAGE, MAX_NAME_LENGTH } from "./constants.ts";
import { MAX_CONTROL_PLAINTEXT, decodeControl, encodeControl, type ListedArchive } from "./messages.ts";

const encoder = new TextEncoder();

/** The longest archive entry the schema allows: longest name, a .tar.zst file, huge size, fractional times. */
function widest(i: number): ListedArchive {
  const name = ("n" + i.toString(36)).padEnd(MAX_NAME_LENGTH, "x");
  return {
    name,
    file: `backup-${name}-59-59-23-2026-12-31.tar.zst`,
    size: Number.MAX_SAFE_INTEGER,
    archiveId: "a".repeat(64),
    fileSha256: "b".repeat(64),
    storedAt: "2026-12-31T23:59:59.123456789Z",
    trashed: true,
    purgeAt: "2026-12-31T23:59:59.123456789Z",
  };
}

describe("listing", () => {
  test("a full page of the widest entries fits one control frame", () => {
    const archives = Array.from({ length: MAX_LISTING_PAGE }, (_, i) => widest(i));
    const bytes = encodeControl({ type: "listing", archives, more: true });
    expect(bytes.length).toBeLessThanOrEqual(MAX_CONTROL_PLAINTEXT);
    const back = decodeControl(bytes, "server");
    expect(back).toEqual({ type: "listing", archives, more: true });
  });

  test("more than a page, a foreign field, a bad name or trashed:false are refused", () => {
    const page = (archives: unknown[]) => encoder.encode(JSON.stringify({ type: "listing", archives, more: false }));
    expect(() => decodeControl(page(Array.from({ length: MAX_LISTING_PAGE + 1 }, (_, i) => widest(i))), "server")).toThrow(
      /bad listing message/,
    );
    expect(() => decodeControl(page([{ ...widest(1), client: "other" }]), "server")).toThrow(/additional/);
    expect(() => decodeControl(page([{ ...widest(1), name: "../etc" }]), "server")).toThrow(/bad listing message/);
    expect(() => decodeControl(page([{ ...widest(1), trashed: false }]), "server")).toThrow(/bad listing message/);
    expect(() => decodeControl(page([{ ...widest(1), file: "../../etc/passwd" }]), "server")).toThrow(/bad listing message/);
  });

  test("list goes from client to server only and names a slug", () => {
    expect(decodeControl(encoder.encode('{"type":"list"}'), "client")).toEqual({ type: "list" });
    expect(decodeControl(encoder.encode('{"type":"list","name":"www"}'), "client")).toEqual({ type: "list", name: "www" });
    expect(() => decodeControl(encoder.encode('{"type":"list"}'), "server")).toThrow(/only the client/);
    expect(() => decodeControl(encoder.encode('{"type":"listing","archives":[],"more":false}'), "client")).toThrow(/only the server/);
    expect(() => decodeControl(encoder.encode('{"type":"list","name":"a/b"}'), "client")).toThrow(/bad list message/);
  });
});
