"""A stand-in for relying parties' own endpoints: records requests, serves documents.

Paths starting with /slow answer POSTs only after 3 s.

Back-channel logout receivers, request_uri documents, sector identifier
documents and client JWKS are served from here over real HTTP.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class Receiver:
    def __init__(self) -> None:
        self.documents: dict[str, tuple[str, bytes]] = {}
        self.posts: list[tuple[str, dict[str, list[str]]]] = []
        self.received = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                found = owner.documents.get(self.path)
                if found is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                content_type, body = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                with owner.received:
                    owner.posts.append((self.path, form))
                    owner.received.notify_all()
                if self.path.startswith("/slow"):
                    time.sleep(3)  # a relying party that keeps the provider waiting
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, path: str, body: str | bytes, content_type: str = "application/json") -> str:
        self.documents[path] = (content_type, body.encode() if isinstance(body, str) else body)
        return self.url + path

    def wait_for_post(self, path: str, timeout: float = 10.0) -> dict[str, list[str]]:
        with self.received:
            self.received.wait_for(lambda: any(p == path for p, _ in self.posts), timeout=timeout)
            for p, form in self.posts:
                if p == path:
                    return form
        raise AssertionError(f"nothing was POSTed to {path} within {timeout} s")

    def close(self) -> None:
        self.server.shutdown()
