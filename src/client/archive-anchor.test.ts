// Anchors without a kept receipt (a new machine) and kept receipts of an earlier server key: what each accepts, refuses and says.
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { HashRelayError } from "../errors.ts";
import { formatPublicKey } from "../protocol/identity.ts";
import type { FetchingMessage } from "../protocol/messages.ts";
import { signDocument, type ReceiptBody } from "../protocol/signed-document.ts";
import { identityFor } from "../protocol/test-fixtures.ts";
import { serverAnchor, vouchedKeyOf, type AnchorKeys } from "./archive-anchor.ts";
import { verifyPinnedReceipt } from "./kept-receipt.ts";
import { earlierServerKeys, recordEarlierServerKey } from "./pinned-keys.ts";

const SERVER = identityFor("anchor: server");
const OLD_SERVER = identityFor("anchor: server before its reinstall");
const OLD_CLIENT = identityFor("anchor: web01 before the disk died");
const NEW_CLIENT = identityFor("anchor: web01 reinstalled");
const FILE = "backup-etc-00-30-02-2026-11-26.tar.gz";
const ID = "ab".repeat(32);
const FACTS: Omit<ReceiptBody, "v" | "kind"> = {
  client: "web01",
  name: "etc",
  file: FILE,
  archiveId: ID,
  fileSha256: "cd".repeat(32),
  size: 4096,
  storedAt: "2026-11-26T02:30:01.000Z",
};

const receipt = (facts = FACTS, by = SERVER) => signDocument({ v: 1, kind: "receipt", ...facts }, by);
const manifest = (by = OLD_CLIENT, archiveId = ID) =>
  signDocument(
    {
      v: 1,
      kind: "manifest",
      client: "web01",
      name: "etc",
      file: FILE,
      archiveId,
      chunks: 1,
      rawSize: 10,
      createdAt: "2026-11-26T02:30:00Z",
    },
    by,
  );
const head = (extra: Partial<FetchingMessage> = {}): FetchingMessage => ({ type: "fetching", file: FILE, size: 4096, chunks: 1, ...extra });
const keys = (own = NEW_CLIENT, vouched?: Uint8Array): AnchorKeys => ({
  client: "web01",
  serverKey: SERVER.publicKey,
  ownKey: own.publicKey,
  vouchedKey: vouched,
});
const target = { name: "etc", file: FILE };

function refusal(fn: () => unknown): HashRelayError {
  try {
    fn();
  } catch (err) {
    return err as HashRelayError;
  }
  throw new Error("accepted");
}

describe("serverAnchor (no kept receipt)", () => {
  test("a manifest signed by this client's own key anchors the archive; the server's receipt gives the file's facts", () => {
    const anchor = serverAnchor(head({ receipt: receipt(), manifest: manifest(OLD_CLIENT) }), target, keys(OLD_CLIENT));
    expect(anchor.kind).toBe("client-manifest");
    expect(anchor.receipt).toMatchObject(FACTS);
    expect(anchor.says).toBe(`the manifest signed by this client's key ${formatPublicKey(OLD_CLIENT.publicKey)}`);
  });

  test("a new client key: the server's receipt anchors it, and says which key signed the manifest; --client-key makes the manifest the anchor", () => {
    const sent = head({ receipt: receipt(), manifest: manifest(OLD_CLIENT) });
    const old = formatPublicKey(OLD_CLIENT.publicKey);
    const byServer = serverAnchor(sent, target, keys(NEW_CLIENT));
    expect(byServer.kind).toBe("server-receipt");
    expect(byServer.says).toContain(`the manifest is signed by ${old}, not this client's key: pass --client-key ${old}`);
    expect(serverAnchor(sent, target, keys(NEW_CLIENT, vouchedKeyOf(old))).kind).toBe("client-manifest");
    const wrong = refusal(() => serverAnchor(sent, target, keys(NEW_CLIENT, NEW_CLIENT.publicKey)));
    expect(wrong.code).toBe("UNAUTHORIZED");
    expect(wrong.message).toContain(`is signed by ${old}, not by the client key you gave`);
  });

  test("an archive stored before manifests were kept: the server's receipt alone, said so", () => {
    const anchor = serverAnchor(head({ receipt: receipt() }), target, keys());
    expect(anchor.kind).toBe("server-receipt");
    expect(anchor.says).toContain("the server's receipt alone");
    expect(anchor.says).toContain("stored before the server kept the client's signed manifest");
  });

  test("refused: no receipt, one the pinned server key did not sign, one for another archive, a manifest that disagrees or was altered", () => {
    expect(refusal(() => serverAnchor(head(), target, keys())).code).toBe("USAGE");
    expect(refusal(() => serverAnchor(head({ receipt: receipt(FACTS, OLD_SERVER) }), target, keys())).code).toBe("UNAUTHORIZED");
    expect(refusal(() => serverAnchor(head({ receipt: receipt({ ...FACTS, client: "web02" }) }), target, keys())).code).toBe(
      "HASH_MISMATCH",
    );
    expect(
      refusal(() => serverAnchor(head({ receipt: receipt(), manifest: manifest(OLD_CLIENT, "ef".repeat(32)) }), target, keys())).code,
    ).toBe("HASH_MISMATCH");
    const altered = { ...manifest(OLD_CLIENT), body: manifest(OLD_CLIENT).body.replace('"rawSize":10', '"rawSize":11') };
    expect(refusal(() => serverAnchor(head({ receipt: receipt(), manifest: altered }), target, keys())).code).toBe("UNAUTHORIZED");
  });
});

describe("kept receipts of an earlier server key", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hr-anchor-"));
  const kept = (name: string, by: typeof SERVER, storedAt = FACTS.storedAt) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify(receipt({ ...FACTS, storedAt }, by)));
    return file;
  };

  test("one signed by a key pinned before is valid for what was stored while it was pinned, and says until when", async () => {
    await recordEarlierServerKey(dir, formatPublicKey(OLD_SERVER.publicKey), "2026-12-01T00:00:00.000Z");
    const pins = { current: SERVER.publicKey, before: earlierServerKeys(dir) };
    expect(fs.statSync(path.join(dir, "server-keys.json")).mode & 0o777).toBe(0o600);
    expect(verifyPinnedReceipt(kept("old.json", OLD_SERVER), pins).signer).toEqual({
      key: formatPublicKey(OLD_SERVER.publicKey),
      until: "2026-12-01T00:00:00.000Z",
    });
    expect(verifyPinnedReceipt(kept("new.json", SERVER), pins).signer).toEqual({ key: formatPublicKey(SERVER.publicKey) });
    const late = refusal(() => verifyPinnedReceipt(kept("late.json", OLD_SERVER, "2026-12-02T00:00:00.000Z"), pins));
    expect(late.code).toBe("UNAUTHORIZED");
    expect(late.message).toContain("pinned only until 2026-12-01T00:00:00.000Z");
    const stranger = refusal(() => verifyPinnedReceipt(kept("stranger.json", NEW_CLIENT), pins));
    expect(stranger.code).toBe("UNAUTHORIZED");
    expect(stranger.message).toContain(`signed by ${formatPublicKey(NEW_CLIENT.publicKey)}`);
  });
});
