// Test helper: a TCP port that accepts connections and never says a word, so a client's tick stays in flight.
import net from "node:net";

export interface MuteServer {
  port: number;
  /** Every connection accepted so far, in order (destroy one to end the tick it belongs to). */
  sockets: net.Socket[];
  /** Resolves once `n` connections have been accepted. */
  connections(n: number): Promise<void>;
  close(): void;
}

/** Listens on 127.0.0.1, on a free port. */
export async function startMuteServer(): Promise<MuteServer> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => void sockets.push(socket.on("error", () => undefined)));
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)),
  );
  return {
    port,
    sockets,
    connections: async (n) => {
      while (sockets.length < n) await Bun.sleep(20);
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
