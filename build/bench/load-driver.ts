// The fan-in bench's simulated clients: each speaks the real protocol over its own socket with its own listed key.
//
//   bun build/bench/load-driver.ts --plan FILE
//
// FILE (JSON, written by fan-in.ts): { port, serverKey, sourceBytes, variants, busyWindowMs, clients: [{ name, seed }] }.
// It builds `variants` real archives (a tar of one file of incompressible bytes, cut by the chunker, one gzip
// member per chunk), prints "ready", and on SIGUSR2 backs up every client at once as `client --once` would:
// connect, handshake (waiting its turn at a busy server, src/client/busy-wait.ts), ping, offer, the manifest
// pages, the chunks asked for, commit, ping, bye. It prints one JSON line: each client's outcome.
import { createHash } from "node:crypto";
import fs from "node:fs";
import { Chunker } from "../../src/archive/chunker.ts";
import { encodeGzipMember } from "../../src/archive/gzip-member.ts";
import { archiveIdOf, type ManifestEntry } from "../../src/archive/manifest.ts";
import { archiveFileName } from "../../src/archive/naming.ts";
import { encodeTarHeader, TAR_TRAILER, tarPadding } from "../../src/archive/tar.ts";
import { openWhenAdmitted } from "../../src/client/busy-wait.ts";
import { HashRelayError } from "../../src/errors.ts";
import { deflateRaw } from "../../src/io/compress.ts";
import { connectTcp } from "../../src/io/framed-socket.ts";
import { decodeNeed, encodeChunkPayload, encodeManifestPage, manifestPages } from "../../src/protocol/binary-frames.ts";
import { COMMIT_TIMEOUT_MS, FrameType, IDLE_TIMEOUT_MS } from "../../src/protocol/constants.ts";
import { ServerBusy } from "../../src/protocol/handshake.ts";
import { identityFromSeed, parsePublicKey, type Identity } from "../../src/protocol/identity.ts";
import { signDocument } from "../../src/protocol/signed-document.ts";
import { openClientSession, type SecureSession } from "../../src/session/secure-session.ts";
import { noise } from "../../src/testing/noise.ts";

export interface DriverPlan {
  port: number;
  serverKey: string;
  sourceBytes: number;
  variants: number;
  busyWindowMs: number;
  clients: { name: string; seed: string }[];
}

/** What happened to one simulated client: ms from the start signal to its `bye`, the BUSY answers it got first, its late handshakes. */
export interface DriverOutcome {
  name: string;
  ok: boolean;
  ms: number;
  busy: number;
  late: number;
  error?: string;
}

interface Archive {
  entries: ManifestEntry[];
  members: Uint8Array[];
  archiveId: string;
  rawSize: number;
  fileSize: number;
  fileSha256: string;
}

/** A real archive of one file `data/data.bin` holding `bytes` of noise from `seed`, as the client would build it. */
function buildArchive(bytes: number, seed: number): Archive {
  const content = noise(bytes, seed);
  const header = encodeTarHeader({
    path: "data.bin",
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: "",
    gname: "",
    size: bytes,
    mtime: 1_700_000_000,
  });
  const stream = Buffer.concat([header, content, new Uint8Array(tarPadding(bytes)), TAR_TRAILER]);
  const chunker = new Chunker();
  const raws = [...chunker.push(stream)];
  const last = chunker.finish();
  if (last) raws.push(last);
  const members = raws.map((raw) => encodeGzipMember(raw, deflateRaw));
  const entries = raws.map((raw) => ({ id: new Uint8Array(createHash("sha256").update(raw).digest()), rawLength: raw.length }));
  const file = createHash("sha256");
  for (const member of members) file.update(member);
  return {
    entries,
    members,
    archiveId: archiveIdOf(entries),
    rawSize: stream.length,
    fileSize: members.reduce((n, m) => n + m.length, 0),
    fileSha256: file.digest("hex"),
  };
}

const quiet = { log: () => undefined };

/** Opens a session for `identity`, waiting its turn while the server says BUSY; counts BUSY answers and late handshakes in `tally`. */
async function admitted(
  plan: DriverPlan,
  identity: Identity,
  serverKey: Uint8Array,
  until: number,
  tally: { busy: number; late: number },
): Promise<SecureSession> {
  return openWhenAdmitted(
    async () => {
      const connection = await connectTcp("127.0.0.1", plan.port, 10_000);
      try {
        return await openClientSession(connection, identity, serverKey);
      } catch (err) {
        connection.close();
        if (err instanceof ServerBusy) tally.busy++;
        else if (err instanceof HashRelayError && (err.code === "TIMEOUT" || err.code === "CLOSED")) tally.late++;
        throw err;
      }
    },
    { until },
    quiet,
  );
}

/** offer → send-manifest → pages with their chunks → commit → receipt, as PROTOCOL.md §10 says. */
async function upload(session: SecureSession, identity: Identity, archive: Archive): Promise<void> {
  await session.sendControl({ type: "offer", name: "data", format: "tar.gz" });
  await session.expect(["send-manifest"], IDLE_TIMEOUT_MS);
  for (const page of manifestPages(archive.entries)) {
    await session.sendBinary(FrameType.SEALED_MANIFEST, encodeManifestPage(page));
    const need = decodeNeed(await session.expectBinary(FrameType.SEALED_NEED, IDLE_TIMEOUT_MS));
    for (const index of need.needed)
      await session.sendBinary(FrameType.SEALED_CHUNK, encodeChunkPayload({ index, member: archive.members[index]! }));
  }
  const body = {
    v: 1 as const,
    kind: "manifest" as const,
    client: session.clientName,
    name: "data",
    file: archiveFileName("data", new Date()),
    archiveId: archive.archiveId,
    chunks: archive.entries.length,
    rawSize: archive.rawSize,
    fileSize: archive.fileSize,
    fileSha256: archive.fileSha256,
    createdAt: new Date().toISOString(),
  };
  await session.sendControl({ type: "commit", manifest: signDocument(body, identity) });
  await session.expect(["receipt", "have"], COMMIT_TIMEOUT_MS);
}

/** One simulated client's tick: probe, upload, probe again, bye. Never throws. */
async function tick(plan: DriverPlan, client: DriverPlan["clients"][number], archive: Archive, startedAt: number): Promise<DriverOutcome> {
  const identity = identityFromSeed(new Uint8Array(Buffer.from(client.seed, "base64")));
  const serverKey = parsePublicKey(plan.serverKey)!;
  const tally = { busy: 0, late: 0 };
  try {
    const session = await admitted(plan, identity, serverKey, startedAt + plan.busyWindowMs, tally);
    try {
      await session.sendControl({ type: "ping", id: 1 });
      await session.expect(["pong"], IDLE_TIMEOUT_MS);
      await upload(session, identity, archive);
      await session.sendControl({ type: "ping", id: 2 });
      await session.expect(["pong"], IDLE_TIMEOUT_MS);
      await session.sendControl({ type: "bye" });
    } finally {
      session.connection.close();
    }
    return { name: client.name, ok: true, ms: Date.now() - startedAt, ...tally };
  } catch (err) {
    return { name: client.name, ok: false, ms: Date.now() - startedAt, ...tally, error: (err as Error).message };
  }
}

if (import.meta.main) {
  const planFile = process.argv[process.argv.indexOf("--plan") + 1]!;
  const plan = JSON.parse(fs.readFileSync(planFile, "utf8")) as DriverPlan;
  const archives = Array.from({ length: plan.variants }, (_, v) => buildArchive(plan.sourceBytes, 104_729 * (v + 1)));
  // A signal handler alone does not keep the process alive until the signal comes.
  const waiting = setInterval(() => undefined, 60_000);
  process.on("SIGUSR2", async () => {
    clearInterval(waiting);
    const startedAt = Date.now();
    const outcomes = await Promise.all(plan.clients.map((c, i) => tick(plan, c, archives[i % archives.length]!, startedAt)));
    process.stdout.write(`${JSON.stringify(outcomes)}\n`);
    process.exit(0);
  });
  process.stdout.write("ready\n");
}
