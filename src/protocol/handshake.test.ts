// Handshake: mutual authentication, pinning, the quiet UNAUTHORIZED, version and tampering, key agreement.
import { describe, expect, test } from "bun:test";
import { createHash, hkdfSync } from "node:crypto";
import nacl from "tweetnacl";
import { HashRelayError } from "../errors.ts";
import { FrameType, HELLO_BYTES } from "./constants.ts";
import type { Frame } from "./frame-codec.ts";
import { ClientHandshake, HandshakeError, ServerBusy, ServerHandshake, ServerIdentityChanged, serverRefusal } from "./handshake.ts";
import { formatPublicKey, sameBytes, type Identity } from "./identity.ts";
import { decodeErrorFrame, errorFrame } from "./messages.ts";
import { identityFor, seededRandom } from "./test-fixtures.ts";

const serverId = identityFor("server");
const clientId = identityFor("client web01");

function makeClient(options: Partial<{ identity: Identity; serverKey: Uint8Array; label: string; version: number }> = {}) {
  return new ClientHandshake({
    identity: options.identity ?? clientId,
    serverKey: options.serverKey ?? serverId.publicKey,
    random: seededRandom(options.label ?? "client"),
    ...(options.version ? { version: options.version } : {}),
  });
}

function makeServer(
  known: Map<string, string> = new Map([[formatPublicKey(clientId.publicKey), "web01"]]),
  label = "server",
  versions?: readonly number[],
) {
  return new ServerHandshake({
    identity: serverId,
    authorize: (key) => known.get(formatPublicKey(key)) ?? null,
    random: seededRandom(label),
    ...(versions ? { versions } : {}),
  });
}

function thrown(fn: () => unknown): HashRelayError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HashRelayError);
    return err as HashRelayError;
  }
  throw new Error("expected a HashRelayError, nothing was thrown");
}

/** Runs the whole exchange; `tamper` may alter any frame in flight. */
function run(client: ClientHandshake, server: ServerHandshake, tamper: (frame: Frame, from: "client" | "server") => Frame = (f) => f) {
  const [hello] = client.start();
  const answer = server.receive(tamper(hello!, "client"));
  expect(answer.send.map((f) => f.type)).toEqual([FrameType.HELLO, FrameType.AUTH]);
  expect(client.receive(tamper(answer.send[0]!, "server")).send).toEqual([]);
  const done = client.receive(tamper(answer.send[1]!, "server"));
  expect(done.send.map((f) => f.type)).toEqual([FrameType.AUTH]);
  const accepted = server.receive(tamper(done.send[0]!, "client"));
  return { client: done.session!, server: accepted.session! };
}

describe("handshake happy path", () => {
  test("both sides derive the same keys crosswise, and the server learns the client's name and key", () => {
    const { client, server } = run(makeClient(), makeServer());
    expect(client.sendKey).toEqual(server.recvKey);
    expect(client.recvKey).toEqual(server.sendKey);
    expect(client.sendKey).not.toEqual(client.recvKey);
    expect(client.transcriptHash).toEqual(server.transcriptHash);
    expect(server.clientName).toBe("web01");
    expect(server.clientKey).toEqual(clientId.publicKey);
  });

  test("keys and signatures follow PROTOCOL.md, recomputed by hand", () => {
    const client = makeClient();
    const server = makeServer();
    const clientHello = client.start()[0]!;
    const answer = server.receive(clientHello);
    client.receive(answer.send[0]!);
    const done = client.receive(answer.send[1]!);
    const serverHello = answer.send[0]!.body;
    const th = createHash("sha256").update("hashrelay/1 transcript").update(clientHello.body).update(serverHello).digest();
    const clientEphemeralSecret = seededRandom("client")(32); // the first bytes the client drew
    const shared = nacl.scalarMult(clientEphemeralSecret, serverHello.subarray(38, 70));
    const okm = new Uint8Array(hkdfSync("sha256", shared, th, "hashrelay/1 session keys", 64));
    expect(done.session!.sendKey).toEqual(okm.subarray(0, 32));
    expect(done.session!.recvKey).toEqual(okm.subarray(32, 64));
    const signed = (role: number) => Uint8Array.from([...new TextEncoder().encode("hashrelay/1 auth"), role, ...th]);
    expect(nacl.sign.detached.verify(signed(2), answer.send[1]!.body, serverId.publicKey)).toBe(true);
    expect(nacl.sign.detached.verify(signed(1), done.send[0]!.body, clientId.publicKey)).toBe(true);
  });

  test("HELLO is 102 bytes: HRLY, version 6, role, identity, ephemeral, nonce", () => {
    const [hello] = makeClient().start();
    expect(hello!.type).toBe(FrameType.HELLO);
    expect(hello!.body.length).toBe(HELLO_BYTES);
    expect(new TextDecoder().decode(hello!.body.subarray(0, 4))).toBe("HRLY");
    expect([hello!.body[4], hello!.body[5]]).toEqual([6, 1]);
    expect(hello!.body.subarray(6, 38)).toEqual(clientId.publicKey);
  });

  test("fresh randomness gives fresh session keys", () => {
    const a = run(makeClient({ label: "c1" }), makeServer(undefined, "s1"));
    const b = run(makeClient({ label: "c2" }), makeServer(undefined, "s2"));
    expect(a.client.sendKey).not.toEqual(b.client.sendKey);
  });
});

describe("handshake refusals", () => {
  test("a server that proves another identity than the pinned one: 'identity changed', naming both keys; the client sends nothing", () => {
    const pinned = identityFor("the server before its reinstall").publicKey;
    const client = new ClientHandshake({ identity: clientId, serverKey: pinned, random: seededRandom("c"), configFile: "/etc/hr.yaml" });
    const server = makeServer();
    const answer = server.receive(client.start()[0]!);
    expect(client.receive(answer.send[0]!).send).toEqual([]);
    const err = thrown(() => client.receive(answer.send[1]!));
    expect(err).toBeInstanceOf(ServerIdentityChanged);
    expect(err.code).toBe("UNAUTHORIZED");
    expect(err.message).toBe(
      `the server's identity changed from ${formatPublicKey(pinned)} to ${formatPublicKey(serverId.publicKey)}; if this is expected, run hashrelay trust-server --config /etc/hr.yaml`,
    );
    expect(err).not.toBeInstanceOf(HandshakeError);
    // The client stays failed: it will not go on to sign anything.
    expect(thrown(() => client.receive(answer.send[1]!)).code).toBe("INTERNAL");
  });

  test("a server presenting another key whose AUTH does not verify with it is refused as a forgery, not as a changed identity", () => {
    const client = makeClient({ serverKey: identityFor("someone else").publicKey });
    const server = makeServer();
    const answer = server.receive(client.start()[0]!);
    client.receive(answer.send[0]!);
    const forged = { ...answer.send[1]!, body: answer.send[1]!.body.map((b, i) => (i === 0 ? b ^ 1 : b)) };
    const err = thrown(() => client.receive(forged));
    expect(err.code).toBe("UNAUTHORIZED");
    expect(err).not.toBeInstanceOf(ServerIdentityChanged);
    expect(err.message).toContain(`server identity ${formatPublicKey(serverId.publicKey)} is not the pinned serverKey`);
    expect(err.message).toContain("does not verify");
  });

  test("an unknown client is refused at its HELLO, before any key agreement or signature: the log names its key, the peer only reads 'unauthorized'", () => {
    const stranger = identityFor("stranger");
    const client = makeClient({ identity: stranger });
    let drawn = 0;
    const server = new ServerHandshake({
      identity: serverId,
      authorize: () => null,
      random: (n) => {
        drawn += n;
        return new Uint8Array(n);
      },
    });
    const err = thrown(() => server.receive(client.start()[0]!)) as HandshakeError;
    expect(drawn).toBe(0); // no ephemeral key was made, nothing was signed
    expect(err.code).toBe("UNAUTHORIZED");
    expect(err.message).toBe(`unknown client key ${formatPublicKey(stranger.publicKey)}`);
    expect(err.reply?.type).toBe(FrameType.ERROR);
    expect(decodeErrorFrame(err.reply!)).toEqual({ type: "error", code: "UNAUTHORIZED", message: "unauthorized" });
    const wire = new TextDecoder().decode(err.reply!.body);
    expect(wire).not.toContain("stranger");
    expect(wire).not.toContain(formatPublicKey(stranger.publicKey).slice(8));
    // The refused client turns that frame into UNAUTHORIZED with a hint naming its own key.
    const local = serverRefusal(err.reply!, stranger.publicKey);
    expect(local.code).toBe("UNAUTHORIZED");
    expect(local.hint).toContain(formatPublicKey(stranger.publicKey));
  });

  test("a key removed from the list between HELLO and AUTH is refused at AUTH", () => {
    let listed = true;
    const server = new ServerHandshake({ identity: serverId, authorize: () => (listed ? "web01" : null), random: seededRandom("s") });
    const client = makeClient();
    const answer = server.receive(client.start()[0]!);
    client.receive(answer.send[0]!);
    const auth = client.receive(answer.send[1]!).send[0]!;
    listed = false;
    const err = thrown(() => server.receive(auth)) as HandshakeError;
    expect(err.code).toBe("UNAUTHORIZED");
    expect(decodeErrorFrame(err.reply!).message).toBe("unauthorized");
  });

  test("a listed client the server has no room for gets BUSY with the retry hint, before any costly work", () => {
    let drawn = 0;
    const asked: string[] = [];
    const busyServer = () =>
      new ServerHandshake({
        identity: serverId,
        authorize: (key) => (sameBytes(key, clientId.publicKey) ? "web01" : null),
        admit: (key) => {
          asked.push(formatPublicKey(key));
          return { reason: "server busy: 64 sessions open, 3 clients waiting", retryAfterMs: 2500 };
        },
        random: (n) => {
          drawn += n;
          return new Uint8Array(n);
        },
      });
    const client = makeClient();
    const err = thrown(() => busyServer().receive(client.start()[0]!)) as HandshakeError;
    expect(asked).toEqual([formatPublicKey(clientId.publicKey)]);
    expect(drawn).toBe(0);
    expect(err.code).toBe("BUSY");
    expect(decodeErrorFrame(err.reply!)).toEqual({
      type: "error",
      code: "BUSY",
      message: "server busy: 64 sessions open, 3 clients waiting; retry after 2500 ms",
    });
    const local = thrown(() => client.receive(err.reply!));
    expect(local).toBeInstanceOf(ServerBusy);
    expect((local as ServerBusy).retryAfterMs).toBe(2500);
    // A stranger is refused as UNAUTHORIZED without being admitted or counted.
    expect(thrown(() => busyServer().receive(makeClient({ identity: identityFor("stranger") }).start()[0]!)).code).toBe("UNAUTHORIZED");
    expect(asked).toHaveLength(1);
  });

  test("a HELLO byte changed in flight after it was hashed breaks the signatures", () => {
    // Flip one nonce byte of the client HELLO on its way to the server: the server signs a
    // transcript the client never saw, so the client refuses the server AUTH.
    const flip = (frame: Frame, from: string) => {
      if (from !== "client" || frame.type !== FrameType.HELLO) return frame;
      const body = frame.body.slice();
      body[80]! ^= 0x01;
      return { type: frame.type, body };
    };
    const err = thrown(() => run(makeClient(), makeServer(), flip));
    expect(err.code).toBe("UNAUTHORIZED");
    expect(err.message).toContain("bad server signature");
  });

  test("a client AUTH over another transcript fails the server's signature check", () => {
    const server = makeServer();
    const client = makeClient();
    const answer = server.receive(client.start()[0]!);
    // A second, independent session yields a valid signature by the same key, but over another transcript.
    const other = makeClient({ label: "other" });
    const otherServer = makeServer(undefined, "other-server");
    const otherAnswer = otherServer.receive(other.start()[0]!);
    other.receive(otherAnswer.send[0]!);
    const otherAuth = other.receive(otherAnswer.send[1]!).send[0]!;
    client.receive(answer.send[0]!);
    client.receive(answer.send[1]!);
    const err = thrown(() => server.receive(otherAuth)) as HandshakeError;
    expect(err.code).toBe("UNAUTHORIZED");
    expect(err.message).toContain("bad signature from client key");
    expect(decodeErrorFrame(err.reply!).message).toBe("unauthorized");
  });

  test("a server AUTH replayed from another session is refused by the client", () => {
    const client = makeClient();
    const server = makeServer();
    const answer = server.receive(client.start()[0]!);
    const old = makeServer(undefined, "old-server").receive(makeClient({ label: "old" }).start()[0]!);
    client.receive(answer.send[0]!);
    expect(thrown(() => client.receive(old.send[1]!)).code).toBe("UNAUTHORIZED");
  });

  test("a HELLO of version 1 (a peer from before) gets VERSION, and the reply says which version the server speaks", () => {
    const body = makeClient().start()[0]!.body.slice();
    body[4] = 1;
    const err = thrown(() => makeServer().receive({ type: FrameType.HELLO, body })) as HandshakeError;
    expect(err.code).toBe("VERSION");
    expect(decodeErrorFrame(err.reply!)).toEqual({
      type: "error",
      code: "VERSION",
      message: "this server speaks protocol 6 and 5 and 4 and 3 and 2",
    });
    // Even a HELLO of a later version and another length is a VERSION problem, not garbage.
    const longer = new Uint8Array(150);
    longer.set(body.subarray(0, 5));
    longer[4] = 7;
    expect(thrown(() => makeServer().receive({ type: FrameType.HELLO, body: longer })).code).toBe("VERSION");
  });

  test("a version-6 server answers version-2 to 5 clients in theirs; older servers refuse version 6 with VERSION", () => {
    const old = run(makeClient({ version: 2 }), makeServer());
    expect([old.client.version, old.server.version]).toEqual([2, 2]);
    const three = run(makeClient({ version: 3 }), makeServer());
    expect([three.client.version, three.server.version]).toEqual([3, 3]);
    const four = run(makeClient({ version: 4 }), makeServer());
    expect([four.client.version, four.server.version]).toEqual([4, 4]);
    const five = run(makeClient({ version: 5 }), makeServer());
    expect([five.client.version, five.server.version]).toEqual([5, 5]);
    const current = run(makeClient(), makeServer());
    expect([current.client.version, current.server.version]).toEqual([6, 6]);
    // a server that speaks only version 2 says so, as one built before version 3 does; a version-3 one names both
    const err = thrown(() => makeServer(undefined, "server", [2]).receive(makeClient().start()[0]!)) as HandshakeError;
    expect(err.code).toBe("VERSION");
    expect(decodeErrorFrame(err.reply!).message).toBe("this server speaks protocol 2");
    const err3 = thrown(() => makeServer(undefined, "server", [3, 2]).receive(makeClient().start()[0]!)) as HandshakeError;
    expect(decodeErrorFrame(err3.reply!).message).toBe("this server speaks protocol 3 and 2");
    expect(run(makeClient({ version: 2 }), makeServer(undefined, "server", [2])).client.version).toBe(2);
    expect(run(makeClient({ version: 3 }), makeServer(undefined, "server", [3, 2])).client.version).toBe(3);
    const err4 = thrown(() => makeServer(undefined, "server", [4, 3, 2]).receive(makeClient().start()[0]!)) as HandshakeError;
    expect(decodeErrorFrame(err4.reply!).message).toBe("this server speaks protocol 4 and 3 and 2");
    expect(run(makeClient({ version: 4 }), makeServer(undefined, "server", [4, 3, 2])).client.version).toBe(4);
    const err5 = thrown(() => makeServer(undefined, "server", [5, 4, 3, 2]).receive(makeClient().start()[0]!)) as HandshakeError;
    expect(decodeErrorFrame(err5.reply!).message).toBe("this server speaks protocol 5 and 4 and 3 and 2");
    expect(run(makeClient({ version: 5 }), makeServer(undefined, "server", [5, 4, 3, 2])).client.version).toBe(5);
  });

  test("a fallback HELLO carries its mark in the transcript: refused by a server that speaks better, and stripped in flight the signatures break", () => {
    const fallback = () =>
      new ClientHandshake({
        identity: clientId,
        serverKey: serverId.publicKey,
        random: seededRandom("client"),
        version: 2,
        fallbackFrom: 6,
      });
    const err = thrown(() => makeServer().receive(fallback().start()[0]!)) as HandshakeError;
    expect(err.code).toBe("VERSION");
    expect(decodeErrorFrame(err.reply!).message).toBe(
      "a fallback from protocol 6 to 2, but this server speaks 6: a refusal on the path was forged",
    );
    // a version-4 server facing a fallback from 6 to 2 names the 4 it would rather have spoken
    const err4 = thrown(() => makeServer(undefined, "server", [4, 3, 2]).receive(fallback().start()[0]!)) as HandshakeError;
    expect(decodeErrorFrame(err4.reply!).message).toBe(
      "a fallback from protocol 6 to 2, but this server speaks 4: a refusal on the path was forged",
    );
    // a server that speaks 2 and nothing the client would rather have accepts it
    expect(run(fallback(), makeServer(undefined, "server", [2])).client.version).toBe(2);
    // the mark removed on the way: the server takes an ordinary version-2 HELLO, the client's transcript differs
    const client = fallback();
    const hello = client.start()[0]!;
    const stripped = hello.body.slice();
    stripped.fill(0, 70, 78);
    const answer = makeServer().receive({ type: FrameType.HELLO, body: stripped });
    client.receive(answer.send[0]!);
    expect(thrown(() => client.receive(answer.send[1]!)).code).toBe("UNAUTHORIZED");
  });

  test("the client reports a server that speaks another version as VERSION", () => {
    const client = makeClient();
    const answer = makeServer().receive(client.start()[0]!);
    const body = answer.send[0]!.body.slice();
    body[4] = 2; // older than the client's own HELLO: the server must answer in the client's version
    expect(thrown(() => client.receive({ type: FrameType.HELLO, body })).code).toBe("VERSION");
  });

  test("bad magic, bad length, wrong role and unexpected frames are BAD_FRAME with a reply", () => {
    const good = makeClient().start()[0]!.body;
    const cases: Frame[] = [
      { type: FrameType.HELLO, body: Uint8Array.from([...good.subarray(0, 3), 0x58, ...good.subarray(4)]) },
      { type: FrameType.HELLO, body: good.subarray(0, 101) },
      { type: FrameType.HELLO, body: Uint8Array.from([...good.subarray(0, 5), 2, ...good.subarray(6)]) },
      { type: FrameType.AUTH, body: new Uint8Array(64) },
      { type: FrameType.SEALED_CONTROL, body: new Uint8Array(20) },
    ];
    for (const frame of cases) {
      const err = thrown(() => makeServer().receive(frame)) as HandshakeError;
      expect(err.code).toBe("BAD_FRAME");
      expect(decodeErrorFrame(err.reply!).code).toBe("BAD_FRAME");
    }
  });

  test("an AUTH of another length is BAD_FRAME, not UNAUTHORIZED, from a listed key or one removed since its HELLO alike", () => {
    for (const removed of [false, true]) {
      for (const length of [0, 63, 65]) {
        const client = makeClient();
        const known = new Map([[formatPublicKey(clientId.publicKey), "web01"]]);
        const server = makeServer(known);
        const answer = server.receive(client.start()[0]!);
        if (removed) known.clear();
        client.receive(answer.send[0]!);
        const auth = client.receive(answer.send[1]!).send[0]!;
        const body = new Uint8Array(length);
        body.set(auth.body.subarray(0, Math.min(length, 64)));
        const err = thrown(() => server.receive({ type: FrameType.AUTH, body })) as HandshakeError;
        expect(err.code).toBe("BAD_FRAME");
        expect(decodeErrorFrame(err.reply!)).toEqual({ type: "error", code: "BAD_FRAME", message: `AUTH of ${length} bytes, expected 64` });
      }
    }
    // The client too: a server AUTH of another length is BAD_FRAME (it closes without a reply).
    const client = makeClient();
    const answer = makeServer().receive(client.start()[0]!);
    client.receive(answer.send[0]!);
    const err = thrown(() => client.receive({ type: FrameType.AUTH, body: answer.send[1]!.body.subarray(0, 63) })) as HandshakeError;
    expect(err.code).toBe("BAD_FRAME");
  });

  test("an ephemeral key giving an all-zero shared secret is BAD_FRAME", () => {
    const body = makeClient().start()[0]!.body.slice();
    body.fill(0, 38, 70); // the identity point (0) has low order: X25519 gives all zeros
    const err = thrown(() => makeServer().receive({ type: FrameType.HELLO, body }));
    expect(err.code).toBe("BAD_FRAME");
    expect(err.message).toContain("all-zero");
  });

  test("an ERROR frame in place of the server HELLO (BUSY) surfaces as that code", () => {
    const client = makeClient();
    client.start();
    const err = thrown(() => client.receive(errorFrame("BUSY", "server busy: 64 connections")));
    expect(err.code).toBe("BUSY");
    expect(err.message).toContain("server busy");
  });

  test("an AUTH by the client key over the server's role byte is refused (no reflection)", () => {
    const authFor = (role: number, th: Uint8Array): Frame => {
      const message = Uint8Array.from([...new TextEncoder().encode("hashrelay/1 auth"), role, ...th]);
      return { type: FrameType.AUTH, body: nacl.sign.detached(message, clientId.secretKey) };
    };
    // Same seeds give the same transcript, so th from one run is valid for the twin run.
    const openTwin = () => {
      const client = makeClient();
      const server = makeServer();
      const answer = server.receive(client.start()[0]!);
      client.receive(answer.send[0]!);
      return { server, th: client.receive(answer.send[1]!).session!.transcriptHash };
    };
    const wrongRole = openTwin();
    expect(thrown(() => wrongRole.server.receive(authFor(2, wrongRole.th))).code).toBe("UNAUTHORIZED");
    const rightRole = openTwin();
    expect(rightRole.server.receive(authFor(1, rightRole.th)).session?.clientName).toBe("web01");
  });
});
