#!/usr/bin/env python3
"""Serves one file for one download over HTTP, bound to one address, then exits.

Exit 0 after the download, 1 when nobody fetched it before the timeout, 2 on bad arguments.
Every later request, and any path but /NAME, is refused. Used by ssh-configuration-manager.sh serve-key.
"""
import argparse
import http.server
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", required=True, help="the one address to listen on (not 0.0.0.0 or ::)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--timeout", type=float, required=True, help="seconds to wait for the download")
    parser.add_argument("--file", required=True)
    parser.add_argument("--name", required=True, help="the URL path: http://BIND:PORT/NAME")
    args = parser.parse_args()
    if args.bind in ("", "0.0.0.0", "::", "*"):
        print(f"serve-once: refusing to listen on every address ({args.bind!r}): give one address", file=sys.stderr)
        return 2
    with open(args.file, "rb") as f:
        data = f.read()
    state = {"served": False}

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 10  # a silent peer cannot hold the only slot

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path != "/" + args.name:
                self.send_error(404)
            elif state["served"]:
                self.send_error(410, "already downloaded")
            else:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                state["served"] = True
                print(f"serve-once: {args.name} downloaded by {self.client_address[0]}", file=sys.stderr)

        def log_message(self, format: str, *rest: object) -> None:  # noqa: A002
            pass

    try:
        server = http.server.HTTPServer((args.bind, args.port), Handler)
    except OSError as err:
        print(f"serve-once: cannot listen on {args.bind}:{args.port}: {err.strerror} (another port: --http-port)", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.timeout
    try:
        while not state["served"]:
            left = deadline - time.monotonic()
            if left <= 0:
                print(f"serve-once: nobody downloaded {args.name} within {args.timeout:g} s", file=sys.stderr)
                return 1
            server.timeout = min(left, 1.0)
            server.handle_request()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
