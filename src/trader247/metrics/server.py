"""The ``/metrics`` HTTP endpoint of one bot (:class:`MetricsServer`, owned by the bot's runtime,
``trader247.adapters.observability``: no process-wide server).

It binds once; a busy port is one error line and ``False``, never an exception: the bot keeps
trading without ``/metrics``. ``TRADER247_METRICS_HOST`` / ``TRADER247_METRICS_PORT`` override the
configured bind (:func:`resolve_bind`).
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import start_http_server

from trader247.interrupts import raise_interrupt
from trader247.metrics.catalogue import ENV_HOST, ENV_PORT

if TYPE_CHECKING:
    from trader247.metrics.exporter import Metrics

logger = logging.getLogger(__name__)


def resolve_bind(
    host: str, port: int, environ: Mapping[str, str] | None = None
) -> tuple[str, int]:
    """``TRADER247_METRICS_HOST`` / ``TRADER247_METRICS_PORT`` override the configured bind
    (docker-compose binds 0.0.0.0 inside the container). ``ValueError`` on a bad port."""
    env = os.environ if environ is None else environ
    host = env.get(ENV_HOST, "").strip() or host
    raw = env.get(ENV_PORT, "").strip()
    if raw:
        if not raw.isdigit():
            raise ValueError(f"{ENV_PORT} must be a port number, got {raw!r}")
        port = int(raw)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"metrics port must be in 0..65535, got {port!r}")
    return host, port


class MetricsServer:
    """The ``/metrics`` endpoint of one bot's :class:`Metrics` (owned by the bot's runtime,
    ``trader247.adapters.observability``: no process-wide server)."""

    def __init__(self) -> None:
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._bound: tuple[str, int] | None = None
        self._result: bool | None = None
        self._lock = threading.Lock()

    def start(self, host: str, port: int, metrics: Metrics) -> bool:
        """Serve ``metrics`` on ``host:port`` (``metrics:`` of policy.yaml, whose model holds the
        defaults). Later calls return the first call's result without binding or logging again.

        A busy port or bad address: one ERROR line naming ``host:port``, ``False``; the bot
        trades on.
        """
        with self._lock:
            if self._result is None:
                self._result = self._bind(host, port, metrics)
            return self._result

    def _bind(self, host: str, port: int, metrics: Metrics) -> bool:
        try:
            host, port = resolve_bind(host, port)
        except ValueError as exc:
            logger.error("Metrics exporter not started: %s; the bot keeps trading", exc)
            return False
        since = sys.exception()
        try:
            server, thread = start_http_server(port, addr=host, registry=metrics.registry)
        except OSError as exc:
            raise_interrupt(exc, since=since)  # "the bot keeps trading" is for a busy port only
            reason = "port already in use" if _addr_in_use(exc) else str(exc)
            logger.error(
                "Metrics exporter not started: cannot bind %s (%s); the bot keeps trading "
                "without /metrics (set metrics.port in policy.yaml or free the port)",
                _hostport(host, port), reason,
            )
            return False
        self._server, self._thread = server, thread
        self._bound = (host, int(server.server_address[1]))
        logger.info("Metrics exporter listening on http://%s/metrics",
                    _hostport(host, self._bound[1]))
        return True

    @property
    def bound_address(self) -> tuple[str, int] | None:
        """``(host, port)`` it listens on (the real port when started with port 0)."""
        return self._bound

    def stop(self) -> None:
        """Shut the HTTP server down and forget the start result."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = self._bound = self._result = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _addr_in_use(exc: OSError) -> bool:
    return exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1))
