"""A sliding-window throttle with injected time (NautilusTrader's ``Throttler``, minus the queue).

At most ``limit`` actions per ``interval``; an action at time ``t`` occupies a slot while
``now - t < interval``. A denial is counted, never silently dropped, so metrics can show it.

Time is whatever unit the caller uses consistently: seconds for chat messages, cycle numbers for
trim rounds (``Throttle(1, 3)`` allows cycles 0, 3, 6...). Pass a monotonic clock: time going
backwards keeps the recorded actions in the window until ``now`` catches up (errs on denying).
"""

from __future__ import annotations

import math
from collections import deque


class Throttle:
    """``allow(now)`` records and returns whether an action may happen now."""

    __slots__ = ("_denied", "_allowed", "_interval", "_limit", "_times")

    def __init__(self, limit: int, interval: float) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be an integer >= 1, got {limit!r}")
        if not (isinstance(interval, int | float) and 0 < interval < math.inf):
            raise ValueError(f"interval must be > 0, got {interval!r}")
        self._limit = limit
        self._interval = float(interval)
        self._times: deque[float] = deque()
        self._allowed = 0
        self._denied = 0

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def allowed(self) -> int:
        return self._allowed

    @property
    def denied(self) -> int:
        return self._denied

    def _prune(self, now: float) -> None:
        while self._times and now - self._times[0] >= self._interval:
            self._times.popleft()

    def remaining(self, now: float) -> int:
        """Actions still allowed at ``now``; does not record anything."""
        self._prune(now)
        return self._limit - len(self._times)

    def next_allowed_at(self, now: float) -> float:
        """Earliest time an action would be allowed (``now`` if one is allowed already)."""
        self._prune(now)
        if len(self._times) < self._limit:
            return now
        return self._times[0] + self._interval

    def allow(self, now: float) -> bool:
        self._prune(now)
        if len(self._times) >= self._limit:
            self._denied += 1
            return False
        self._times.append(now)
        self._allowed += 1
        return True

    def __repr__(self) -> str:
        return (
            f"Throttle(limit={self._limit}, interval={self._interval:g}, "
            f"allowed={self._allowed}, denied={self._denied})"
        )
