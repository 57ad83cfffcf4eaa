"""The latest universe decision of this process, shared by the pairlist, strategy and metrics.

Freqtrade builds the pairlist and the strategy independently; a bot process runs one of each, so a
module-level slot is the simplest honest channel (no freqtrade object has to be threaded through).
"""

from __future__ import annotations

from trader247.core.universe import UniverseResult

_latest: UniverseResult | None = None


def publish(result: UniverseResult) -> None:
    global _latest
    _latest = result


def latest() -> UniverseResult | None:
    return _latest
