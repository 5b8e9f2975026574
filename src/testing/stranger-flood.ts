// Test-only, run as its own process: strangers flooding a server's port (silent, slow, or HELLOs they cannot finish).
//
//   bun src/testing/stranger-flood.ts --port N --mode connect --rate 2000 --seconds 30
//   bun src/testing/stranger-flood.ts --port N --mode slow --count 300 --seconds 30
//   bun src/testing/stranger-flood.ts --port N --mode hello --count 300 --key FILE --seconds 30
//
// connect: opens `rate` connections a second that never send a byte, each held until the server cuts it.
// slow: keeps `count` connections that send a HELLO one byte every 400 ms, each reopened when cut.
// hello: keeps `count` connections that send a complete HELLO of the key in FILE (a stranger's own, or a
//   listed client's public key it cannot sign for) and never an AUTH: refused, it reopens at once; answered
//   with the server's HELLO, it holds the connection, silent, until the server cuts it, then reopens
//   (with --after-hello close it closes at once: as many costly answers as the server will give).
// It prints "flooding" once its first connections are open, and a JSON summary when it stops (SIGTERM or --seconds).
import net from "node:net";
import fs from "node:fs";
import { randomBytes } from "node:crypto";
import { ClientHandshake } from "../protocol/handshake.ts";
import { encodeFrame } from "../protocol/frame-codec.ts";
import { identityFromSeed, parsePublicKey, parseSecretKeyFile, type Identity } from "../protocol/identity.ts";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1]!);
const port = Number(args.get("port"));
const mode = args.get("mode") ?? "connect";
const seconds = Number(args.get("seconds") ?? 30);
/** answered: connections the server sent anything on; admitted: of those, answered with its HELLO (it did the costly work). */
const tally = { opened: 0, cutByServer: 0, refusedToConnect: 0, answered: 0, admitted: 0, seconds: 0 };
const started = Date.now();
let stopping = false;
const open = new Set<net.Socket>();

/** A HELLO of `identity` as a client sends it (the stranger never gets further). */
function helloBytes(identity: Identity): Uint8Array {
  const frame = new ClientHandshake({ identity, serverKey: new Uint8Array(32), random: (n) => new Uint8Array(randomBytes(n)) }).start()[0]!;
  return encodeFrame(frame.type, frame.body);
}

/** The identity whose HELLO the stranger sends: the key file given (a stranger's, or only a listed public key), else a fresh one. */
function claimedIdentity(): Identity {
  const file = args.get("key");
  if (!file) return identityFromSeed(new Uint8Array(randomBytes(32)));
  const text = fs.readFileSync(file, "utf8").trim();
  const listed = parsePublicKey(text);
  // Only the public key: the stranger claims it; its secret half is never used (it cannot sign).
  return listed ? { publicKey: listed, secretKey: new Uint8Array(64) } : parseSecretKeyFile(text, file);
}

/** One stranger's connection; `onOpen` runs once TCP is up, `onGone` once it is closed (by either side). */
function connect(onOpen: (socket: net.Socket) => void, onGone: () => void): void {
  if (stopping) return;
  const socket = net.connect({ host: "127.0.0.1", port });
  let connected = false;
  socket.on("connect", () => {
    connected = true;
    tally.opened++;
    open.add(socket);
    onOpen(socket);
  });
  socket.on("data", () => {
    tally.answered++;
  });
  socket.on("end", () => {
    tally.cutByServer++;
    socket.destroy();
  });
  socket.on("error", () => {
    if (!connected) tally.refusedToConnect++;
  });
  socket.on("close", () => {
    open.delete(socket);
    onGone();
  });
}

function floodSilent(rate: number): void {
  const perTick = Math.max(1, Math.round(rate / 100));
  const timer = setInterval(() => {
    for (let i = 0; i < perTick; i++)
      connect(
        () => undefined,
        () => undefined,
      );
  }, 10);
  onStop(() => clearInterval(timer));
}

function floodSlow(count: number): void {
  const hello = helloBytes(claimedIdentity());
  const one = () =>
    connect(
      (socket) => {
        let at = 0;
        const drip = setInterval(() => {
          if (at < hello.length && !socket.destroyed) socket.write(hello.subarray(at, ++at));
        }, 400);
        socket.once("close", () => clearInterval(drip));
      },
      () => setTimeout(one, 10),
    );
  for (let i = 0; i < count; i++) one();
}

function floodHello(count: number, hold: boolean): void {
  const identity = claimedIdentity();
  const one = () =>
    connect(
      (socket) => {
        socket.write(helloBytes(identity));
        // An ERROR (0x0f after the 4 length bytes): start over at once. The server's HELLO: hold its slot, silent.
        socket.once("data", (data: Buffer) => {
          if (data[4] !== 0x0f) tally.admitted++;
          if (data[4] === 0x0f || !hold) socket.destroy();
        });
      },
      () => setImmediate(one),
    );
  for (let i = 0; i < count; i++) one();
}

const stops: (() => void)[] = [];
function onStop(fn: () => void): void {
  stops.push(fn);
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const fn of stops) fn();
  for (const socket of open) socket.destroy();
  tally.seconds = (Date.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ mode, ...tally })}\n`);
  process.exit(0);
}

process.on("SIGTERM", stop);
process.on("SIGINT", stop);
setTimeout(stop, seconds * 1000);
if (mode === "connect") floodSilent(Number(args.get("rate") ?? 2000));
else if (mode === "slow") floodSlow(Number(args.get("count") ?? 300));
else if (mode === "hello") floodHello(Number(args.get("count") ?? 300), args.get("after-hello") !== "close");
else throw new Error(`unknown mode ${mode}`);
const announce = setInterval(() => {
  if (tally.opened === 0) return;
  clearInterval(announce);
  process.stdout.write("flooding\n");
}, 10);
