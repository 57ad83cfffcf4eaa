"""Request/response values shared by the Coinbase API, the control API and the server."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
