"""Scripted price multipliers (rallies, crashes) on top of the replayed prices.

A script ramps linearly from ``from_multiplier`` at ``start_s`` to ``to_multiplier`` at
``end_s`` (seconds since server start, real time) and then holds ``to_multiplier`` so a crash
stays crashed; before ``start_s`` it is 1. Scripts for the same pair multiply. A script without
``pair`` applies to every pair (a market-wide move).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PriceScript:
    start_s: float
    end_s: float
    from_multiplier: float = 1.0
    to_multiplier: float = 1.0
    pair: str | None = None  # product id ("BTC-USD"); None = all pairs

    def at(self, rel: float) -> float:
        if rel < self.start_s:
            return 1.0
        if rel >= self.end_s:
            return self.to_multiplier
        frac = (rel - self.start_s) / (self.end_s - self.start_s)
        return self.from_multiplier + (self.to_multiplier - self.from_multiplier) * frac

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class PriceScripts:
    def __init__(self, scripts: Iterable[PriceScript] = ()) -> None:
        self._lock = threading.Lock()
        self._scripts: tuple[PriceScript, ...] = tuple(scripts)

    def add(self, scripts: Iterable[PriceScript]) -> None:
        with self._lock:
            self._scripts = self._scripts + tuple(scripts)

    def clear(self) -> None:
        with self._lock:
            self._scripts = ()

    def list(self) -> tuple[PriceScript, ...]:
        return self._scripts

    def for_pair(self, product_id: str) -> tuple[PriceScript, ...]:
        return tuple(s for s in self._scripts if s.pair is None or s.pair == product_id)

    @staticmethod
    def multiplier(scripts: tuple[PriceScript, ...], rel: float) -> float:
        m = 1.0
        for script in scripts:
            m *= script.at(rel)
        return m

    @staticmethod
    def extremes(scripts: tuple[PriceScript, ...], lo: float, hi: float) -> tuple[float, float]:
        """Smallest and largest multiplier over real seconds ``[lo, hi]``.

        The product of piecewise-linear ramps is extremal at an end or at a ramp corner.
        """
        points = {lo, hi}
        for script in scripts:
            points.update(p for p in (script.start_s, script.end_s) if lo < p < hi)
        values = [PriceScripts.multiplier(scripts, p) for p in points]
        # a ramp's value just before start_s is 1, a step the corner points alone can miss
        values += [PriceScripts.multiplier(scripts, p - 1e-9) for p in points if p > lo]
        return min(values), max(values)
