"""Fakes for the cap adapter's parts (``trader247.adapters.cap_adapter``): tests swap a part,
never a private method."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from trader247.adapters.cap_adapter import CapAdapter
from trader247.adapters.cap_build import build_cap_adapter
from trader247.core.exposure import Snapshot


class FixedExposure:
    """An exposure reader that always answers ``value``."""

    def __init__(self, value: Snapshot) -> None:
        self.value = value

    def snapshot(self, trades: Any, now: datetime | None) -> Snapshot:
        return self.value


class RecordedLocks:
    """The lock part without freqtrade's lock store: remembers what it was asked to set."""

    def __init__(self) -> None:
        self.reasons: list[str | None] = []

    def sync(self, reason: str | None, now: datetime) -> None:
        self.reasons.append(reason)

    def reset(self) -> None:
        self.reasons.append("reset")


def with_parts(strategy: Any, **parts: Any) -> CapAdapter:
    """Build ``strategy``'s adapter as ``ft_bot_start`` does, with ``parts`` replaced."""
    adapter = replace(build_cap_adapter(strategy), **parts)
    strategy._trader247_cap = adapter
    return adapter
