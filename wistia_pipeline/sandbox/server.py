"""The emulators' HTTP server: a real one on 127.0.0.1, so the clients are exercised end to end
(connections, keep-alive, timeouts, retries and all).

`SandboxServer` parses each request into a `Request`, hands it to its emulator (`Emulator.handle`,
emulator.py) and writes the `Response` back, including the answers only a socket can give: a late
answer, a connection dropped without one, a body cut halfway. A delay and a dropped connection
happen here, outside the emulator's lock, so a slow answer never holds up other requests.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from .messages import Request

if TYPE_CHECKING:
    from .emulator import Emulator

HOST = "127.0.0.1"


class SandboxServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that is quiet, does not block on close and can drop live connections."""

    daemon_threads = True
    block_on_close = False  # a client's idle keep-alive connection must not hang stop()
    allow_reuse_address = True
    request_queue_size = 128  # the default backlog of 5 makes bursts of new connections wait 1 s

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._connections_lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def drop_connections(self) -> None:
        """Close keep-alive connections so a stopped sandbox really stops answering."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: clients dropping connections is normal here."""


class _Handler(BaseHTTPRequestHandler):
    """Parses the request, asks the emulator, writes the answer. No logging."""

    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs behind a load balancer
    server_version = "WistiaPipelineSandbox/1.0"
    server: SandboxServer

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK hold every body back ~40 ms.
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: a test run or `wistia-pipeline sandbox` must not be flooded with access logs."""

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(parts.path) or "/",
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
        )
        response = self.server.emulator.handle(request)
        if response.delay > 0:  # outside the emulator's lock: other requests go on meanwhile
            time.sleep(response.delay)
        if response.drop:  # no answer at all: the client sees the connection close
            self._hang_up()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.content_type and response.body:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.cut:  # the headers promised the whole body: half of it, then the line goes dead
            self.wfile.write(response.body[: len(response.body) // 2])
            self._hang_up()
            return
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def _hang_up(self) -> None:
        """Close the connection without another byte, as a dead upstream or a cut line does."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch
