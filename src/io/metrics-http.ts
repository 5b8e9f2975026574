// A tiny HTTP listener for Prometheus: GET /metrics answers with the text exposition, everything else 404/405.
import http from "node:http";
import { HashRelayError } from "../errors.ts";

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface MetricsListener {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Listens on host:port and answers GET /metrics with `render()`. A render that throws answers 500 with
 * its message (no stack). Throws USAGE when the address cannot be bound.
 */
export function listenMetrics(host: string, port: number, render: () => Promise<string> | string): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    if (url !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics\n");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { "content-type": "text/plain", allow: "GET, HEAD" }).end("method not allowed\n");
      return;
    }
    Promise.resolve()
      .then(render)
      .then(
        (body) => res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE }).end(req.method === "HEAD" ? undefined : body),
        (err: unknown) =>
          res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`),
      );
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 50;
  return new Promise((resolve, reject) => {
    server.once("error", (err) =>
      reject(
        new HashRelayError("USAGE", `cannot serve metrics on ${host}:${port}: ${err.message}`, "choose a free address for server.metrics", {
          cause: err,
        }),
      ),
    );
    server.listen({ host, port }, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === "object" && addr ? addr.port : port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}
