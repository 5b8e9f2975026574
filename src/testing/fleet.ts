// Test-only: one server and many listed clients (own keys, configs, state and sources) in a temp folder, started at once.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { formatPublicKey, formatSecretKeyFile, identityFromSeed, type Identity } from "../protocol/identity.ts";
import { ensureBinary, freePort, tempDir, type ClientReport, type World } from "./e2e-harness.ts";
import { noise } from "./noise.ts";

export interface FleetClient {
  name: string;
  identity: Identity;
  /** Config file, state folder and source folder (empty for a client the caller drives itself). */
  config: string;
  state: string;
  source: string;
}

export interface Fleet {
  dir: string;
  port: number;
  serverIdentity: Identity;
  /** What startServer needs (its client fields name the first client). */
  world: World;
  clients: FleetClient[];
}

export interface FleetOptions {
  /** server.limits.maxConnections (default: the server's 64). */
  maxConnections?: number;
  /** Bytes of each client's source: one incompressible file of its own (default 64 KiB). */
  sourceBytes?: number;
  /** Clients listed on the server with keys but no config or source: a load driver speaks for them. */
  simulated?: number;
  /** Lines added to every client section, e.g. "  busyWindow: 10m". */
  clientLines?: string[];
}

const newIdentity = () => identityFromSeed(new Uint8Array(randomBytes(32)));

/** `real` clients with configs and sources, and `simulated` ones with keys only, all listed on one server. */
export async function makeFleet(real: number, options: FleetOptions = {}): Promise<Fleet> {
  const dir = tempDir("fleet");
  const port = await freePort();
  const serverIdentity = newIdentity();
  fs.writeFileSync(path.join(dir, "server.key"), formatSecretKeyFile(serverIdentity), { mode: 0o600 });
  const clients: FleetClient[] = [];
  for (let i = 0; i < real + (options.simulated ?? 0); i++) {
    const name = `${i < real ? "host" : "sim"}${String(i).padStart(3, "0")}`;
    const client = { name, identity: newIdentity(), config: "", state: "", source: "" };
    if (i < real) writeClient(dir, port, serverIdentity, client, i, options);
    clients.push(client);
  }
  const limits = options.maxConnections ? `  limits:\n    maxConnections: ${options.maxConnections}\n` : "";
  const list = clients.map((c) => `    - name: ${c.name}\n      key: "${formatPublicKey(c.identity.publicKey)}"\n`).join("");
  const serverConfig = path.join(dir, "server.yaml");
  fs.writeFileSync(
    serverConfig,
    `version: 1\nport: ${port}\nserver:\n  listen: 127.0.0.1\n  key: ./server.key\n  storage: ./nas\n${limits}  clients:\n${list}`,
  );
  const first = clients[0]!;
  const world: World = {
    dir,
    port,
    serverPub: formatPublicKey(serverIdentity.publicKey),
    clientPub: formatPublicKey(first.identity.publicKey),
    serverConfig,
    clientConfig: first.config,
    storage: path.join(dir, "nas"),
    state: first.state,
  };
  return { dir, port, serverIdentity, world, clients };
}

/** The key file, config, state folder and source (one file of noise) of real client number `i`. */
function writeClient(dir: string, port: number, server: Identity, client: FleetClient, i: number, options: FleetOptions): void {
  const home = path.join(dir, client.name);
  client.source = path.join(home, "data");
  client.state = path.join(home, "state");
  client.config = path.join(home, "client.yaml");
  fs.mkdirSync(client.source, { recursive: true });
  fs.writeFileSync(path.join(client.source, "data.bin"), noise(options.sourceBytes ?? 64 * 1024, 7919 * (i + 1)));
  fs.writeFileSync(path.join(home, "client.key"), formatSecretKeyFile(client.identity), { mode: 0o600 });
  const lines = [
    "version: 1",
    `port: ${port}`,
    "client:",
    `  name: ${client.name}`,
    "  server: 127.0.0.1",
    `  serverKey: "${formatPublicKey(server.publicKey)}"`,
    "  key: ./client.key",
    '  schedule: "every 1h"',
    "  state: ./state",
    ...(options.clientLines ?? []),
    "  paths:",
    `    - ${JSON.stringify(client.source)}`,
    "",
  ];
  fs.writeFileSync(client.config, lines.join("\n"));
}

export interface ClientRun {
  client: FleetClient;
  /** From the spawn to the exit. */
  ms: number;
  status: number | null;
  report: ClientReport | null;
  stderr: string;
}

/** Starts `client --once --json` for every client at the same moment; resolves when all have exited. */
export function runAllAtOnce(clients: readonly FleetClient[]): Promise<ClientRun[]> {
  const binary = ensureBinary();
  return Promise.all(
    clients.map(
      (client) =>
        new Promise<ClientRun>((resolve) => {
          const started = Date.now();
          const child = spawn(binary, ["client", "--once", "--json", "--config", client.config], { stdio: ["ignore", "pipe", "pipe"] });
          let stdout = "";
          let stderr = "";
          child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
          child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
          child.once("exit", (status) => {
            let report: ClientReport | null = null;
            try {
              report = JSON.parse(stdout) as ClientReport;
            } catch {
              // reported as null: the test says which client printed no JSON
            }
            resolve({ client, ms: Date.now() - started, status, report, stderr });
          });
        }),
    ),
  );
}
