"""A relying party's web server on 127.0.0.1, as raw as the outbound-fetch tests need.

It speaks bytes, not HTTP, so a test can make it hostile: answer one byte at a
time (``drip``), never answer (``answer=None``), send more than we accept, or
redirect. Every TCP connection it accepts is counted, so a test can show that
a refused address was never contacted.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time


def http_answer(
    body: bytes | str | dict | list, *, status: str = "200 OK", headers: dict[str, str] | None = None
) -> bytes:
    if isinstance(body, dict | list):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    head = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})}
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in head.items()), "Connection: close", "", ""]
    return "\r\n".join(lines).encode() + body


class Host:
    def __init__(self, answer: bytes | None = b"", *, drip: float = 0.0, at_once: int = 0):
        """``drip``: seconds between bytes of ``answer`` after its first ``at_once`` bytes."""
        self.answer, self.drip, self.at_once = answer, drip, at_once
        self.connections = 0
        self.requests: list[bytes] = []  # the first bytes received on each connection
        self.closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                self.requests.append(conn.recv(65536))
                answer = self.answer
                if answer is None:
                    self.closed.wait(60)  # holds the connection open and says nothing
                elif not self.drip:
                    conn.sendall(answer)
                else:
                    conn.sendall(answer[: self.at_once])
                    for i in range(self.at_once, len(answer)):
                        if self.closed.is_set():
                            return
                        conn.sendall(answer[i : i + 1])
                        time.sleep(self.drip)
            except OSError:
                return  # the fetcher hung up, as it should on a hostile host

    def close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the thread
        self.listener.close()
