"""Mapping the real wall clock onto the replayed data ("virtual") time line.

Real time ``t`` maps to virtual data time ``vt = start + (t - t0) * speed``. ``t0 - start`` is a
whole number of days, so at speed 1 every candle boundary of every timeframe up to 1d falls on
the same real boundary: the data row at virtual open ``v`` is shown at real open ``v + (t0 -
start)``, and all timeframes agree. At other speeds the row shown in the current real slot is
``floor(vt, tf)`` and older slots show the rows before it (so the shown history is re-labelled
as the walk advances; freqtrade only re-fetches the newest candles, see README).

When the walk reaches the end of the data it loops back to ``loop_start`` (the first data
midnight after the walk start): the virtual time line is periodic with period ``span`` (whole
days), lap ``k`` shows the physical rows ``[loop_start, end)`` shifted by ``k * span`` and scaled
per pair so prices stay continuous.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from trader247.replay.feed import DAY

Clock = Callable[[], float]


def floor_to(value: float, step: int) -> int:
    return int(math.floor(value / step)) * step


class ReplayClock:
    def __init__(self, clock: Clock, *, desired_start: float, data_end: int,
                 speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError("speed must be positive")
        self._clock = clock
        self.speed = float(speed)
        self.t0 = float(clock())
        # t0 - start must be whole days; flooring keeps start at or after the wanted point so
        # the promised history stays behind it.
        offset = math.floor((self.t0 - desired_start) / DAY) * DAY
        # ... but at least one whole day before the data ends, so the loop never shows a gap
        if self.t0 - offset + DAY > data_end:
            offset += DAY * math.ceil((self.t0 - offset + DAY - data_end) / DAY)
        self.offset = offset
        self.start = self.t0 - offset
        # The looped span runs between UTC midnights of the data, so every timeframe's candles
        # end exactly at the loop point and start exactly where the next lap begins; a partial
        # day at the very end of the data is never shown.
        loop_start = -floor_to(-self.start, DAY)
        if loop_start + DAY > data_end:
            loop_start = floor_to(self.start, DAY)
        self.loop_start = loop_start
        self.span = max(DAY, floor_to(data_end - loop_start, DAY))
        self.end = loop_start + self.span

    def now(self) -> float:
        return float(self._clock())

    def elapsed(self, now: float) -> float:
        return now - self.t0

    def virtual(self, now: float) -> float:
        return self.start + (now - self.t0) * self.speed

    def shift(self, timeframe: int, now: float) -> int:
        """Real open time minus virtual open time of the candle ``timeframe`` now shows."""
        return floor_to(now, timeframe) - floor_to(self.virtual(now), timeframe)

    def lap(self, v: float) -> int:
        if v < self.end:
            return 0
        return (int(v) - self.loop_start) // self.span

    def lap_bounds(self, lap: int) -> tuple[float, float]:
        """Virtual ``[lo, hi)`` of a lap; lap 0 also holds all history before the walk."""
        lo = -math.inf if lap == 0 else self.loop_start + lap * self.span
        return lo, self.loop_start + (lap + 1) * self.span
