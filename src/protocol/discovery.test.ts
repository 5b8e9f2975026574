// Discovery datagrams: only the pinned server's fresh, unaltered answer is accepted; requests never amplify.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  DISCOVERY_ANSWER_BYTES,
  DISCOVERY_REQUEST_BYTES,
  decodeDiscoveryRequest,
  encodeDiscoveryAnswer,
  encodeDiscoveryRequest,
  verifyDiscoveryAnswer,
} from "./discovery.ts";
import { identityFor, seededRandom } from "./test-fixtures.ts";

const server = identityFor("server");
const impostor = identityFor("another server");
const random = seededRandom("discovery");

describe("request", () => {
  test("round trip: the server reads back the client's nonce", () => {
    const nonce = random(32);
    const packet = encodeDiscoveryRequest(nonce);
    expect(packet.length).toBe(DISCOVERY_REQUEST_BYTES);
    expect(Buffer.from(packet.subarray(0, 4)).toString("ascii")).toBe("HRLD");
    expect(decodeDiscoveryRequest(packet)).toEqual(nonce);
  });

  test("is at least as large as the answer (no amplification)", () => {
    expect(DISCOVERY_REQUEST_BYTES).toBeGreaterThanOrEqual(DISCOVERY_ANSWER_BYTES);
  });

  test("anything else is ignored: short, long, wrong magic, version, type, padding", () => {
    const good = encodeDiscoveryRequest(random(32));
    const variants: Uint8Array[] = [
      good.subarray(0, 38),
      new Uint8Array([...good, 0]),
      new Uint8Array(0),
      Object.assign(new Uint8Array(good), { 0: 0x58 }),
      Object.assign(new Uint8Array(good), { 4: 2 }),
      Object.assign(new Uint8Array(good), { 5: 2 }),
      Object.assign(new Uint8Array(good), { 100: 1 }),
    ];
    for (const v of variants) expect(decodeDiscoveryRequest(v)).toBeNull();
  });

  test("refuses a nonce of the wrong size", () => {
    expect(() => encodeDiscoveryRequest(new Uint8Array(16))).toThrow(RangeError);
  });
});

describe("answer", () => {
  test("the pinned server's answer to our nonce gives its TCP port", () => {
    const nonce = random(32);
    const answer = encodeDiscoveryAnswer(server, nonce, 7373);
    expect(answer.length).toBe(DISCOVERY_ANSWER_BYTES);
    expect(verifyDiscoveryAnswer(answer, nonce, server.publicKey)).toEqual({ port: 7373 });
  });

  test("an answer signed by another key is ignored", () => {
    const nonce = random(32);
    expect(verifyDiscoveryAnswer(encodeDiscoveryAnswer(impostor, nonce, 7373), nonce, server.publicKey)).toBeNull();
  });

  test("an impostor that copies the pinned key into its answer fails the signature", () => {
    const nonce = random(32);
    const forged = encodeDiscoveryAnswer(impostor, nonce, 7373);
    forged.set(server.publicKey, 6 + 32);
    expect(verifyDiscoveryAnswer(forged, nonce, server.publicKey)).toBeNull();
  });

  test("a replayed answer (to an earlier request) is ignored", () => {
    const earlier = random(32);
    const now = random(32);
    expect(verifyDiscoveryAnswer(encodeDiscoveryAnswer(server, earlier, 7373), now, server.publicKey)).toBeNull();
  });

  test("a request is not an answer", () => {
    const nonce = random(32);
    expect(verifyDiscoveryAnswer(encodeDiscoveryRequest(nonce), nonce, server.publicKey)).toBeNull();
  });

  test("any single altered byte makes the answer worthless", () => {
    const nonce = random(32);
    const answer = encodeDiscoveryAnswer(server, nonce, 40000);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: DISCOVERY_ANSWER_BYTES - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const altered = new Uint8Array(answer);
        altered[at]! ^= flip;
        return verifyDiscoveryAnswer(altered, nonce, server.publicKey) === null;
      }),
      { numRuns: 150 },
    );
  });

  test("refuses ports outside 1-65535", () => {
    for (const port of [0, 65536, -1, 1.5]) expect(() => encodeDiscoveryAnswer(server, random(32), port)).toThrow(RangeError);
  });
});
