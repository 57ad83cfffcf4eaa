"""The loopback HTTP server around ``ReplayExchange`` (stdlib only)."""

from __future__ import annotations

import errno
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from trader247.replay.api import ReplayExchange
from trader247.replay.protocol import Response, dumps

log = logging.getLogger(__name__)


class BindError(Exception):
    """The listening socket could not be opened; the message names host:port."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # a hung (timeout fault) connection must not hold up shutdown
    block_on_close = False

    def __init__(self, address: tuple[str, int], exchange: ReplayExchange) -> None:
        self.exchange = exchange
        self.stop_event = threading.Event()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # clients that time out and hang up are part of the job, not a crash to print
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "trader247-replay"
    # Headers and body leave in two writes: with Nagle on, a keep-alive client (ccxt's requests
    # session) waited for its delayed ACK, ~40 ms on every synchronous call after the first.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            response = self.server.exchange.handle(method, self.path, body,
                                                       dict(self.headers.items()))
        except Exception:
            log.exception("replay failed to answer %s %s", method, self.path)
            response = Response(500, dumps({"error": "INTERNAL", "message": "replay error",
                                             "error_details": "replay error"}))
        wait = response.delay_s + response.hang_s
        if wait > 0 and self.server.stop_event.wait(wait):
            self.close_connection = True  # shutting down: drop the held request
            return
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", f"{response.content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(response.body)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            if response.hang_s:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)


class ReplayServer:
    """Binds on construction (so a busy port fails early); ``start`` serves in a thread."""

    def __init__(self, exchange: ReplayExchange, host: str = "127.0.0.1", port: int = 0) -> None:
        self.exchange = exchange
        try:
            self._httpd = _Server((host, port), exchange)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else (
                exc.strerror or str(exc))
            raise BindError(f"cannot listen on {host}:{port}: {reason}") from None
        self.host = host
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ReplayServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={
            "poll_interval": 0.2}, name="replay-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.stop_event.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
