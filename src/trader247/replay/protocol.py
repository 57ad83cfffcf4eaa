"""Request/response values shared by the Coinbase API, the control API and the server."""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from trader247.replay.faults import Fired


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # latency fault: wait before answering
    hang_s: float = 0.0  # timeout fault: wait (past the client's timeout) before answering


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    now: float
    rel: float
    params: dict[str, str] = field(default_factory=dict)
    fired: Fired = field(default_factory=Fired)
    account: str = ""  # the authenticated account of a private request

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def int_arg(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value is None or value == "":
            return default
        try:
            return int(float(value))
        except ValueError:
            raise ApiError(400, "INVALID_ARGUMENT", f"{name} must be a number") from None


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


# room for any figure the replay prints (the default 28 digits overflow on 1e21 x 8 decimals)
_WIDE = Context(prec=80, rounding=ROUND_HALF_EVEN)


def number(value: float | Decimal, decimals: int) -> str:
    """A figure as Coinbase prints it: rounded to ``decimals`` places, plain notation (never
    ``1e-05``), no trailing zeros (``"67060"``, ``"0.115"``: ccxt's recorded products, books)."""
    if isinstance(value, Decimal):
        text = format(value.quantize(Decimal(1).scaleb(-decimals), context=_WIDE), "f")
    else:  # the float's own formatting: several times faster, and never an exponent
        text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def dec(value: Decimal) -> str:
    """A Decimal in plain notation, no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


class RequestCounter:
    """Requests per endpoint name (``/_replay/state`` shows them); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, endpoint: str) -> None:
        with self._lock:
            self._counts[endpoint] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
