"""Stateful: backtest marks at boundaries ([T] item 2).

The real ``BacktestMarks`` (its per-boundary table and its binary-search fallback) and the core's
``mark_at`` answer the mark of pairs whose candles start late, end early, have gaps, unusable
closes (NaN, 0), duplicated rows and rows out of order, at any time: before a pair's first
candle closed, exactly on a candle edge, inside a candle, inside a gap, at and after the last
close. Candles are handed over as freqtrade does (``preload``, again for a new run) or read
through the loader. The model is the definition in ``core.marks`` written plainly: the close of
the newest usable candle whose close time (open + timeframe) is at or before t; none -> the
caller's fallback. Stale: none, or that candle closed a whole timeframe or more before t. No
index ever wraps to the last price.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from tests.stateful.budget import bounded
from trader247.adapters.backtest_marks import BacktestMarks
from trader247.core.marks import CloseSeries, mark_at

BASE_MS = 1_735_689_600_000  # 2025-01-01 00:00 UTC
FALLBACK = -1.0  # the trade's open rate, in the adapter's caller
PAIRS = ("BTC/USD", "ETH/USD")
LOADED = "SOL/USD"  # never preloaded: read through the loader
CLOSE = st.one_of(st.floats(0.01, 1e5), st.sampled_from([math.nan, 0.0, -1.0]))
SLOTS = st.lists(st.one_of(st.none(), CLOSE), max_size=12)  # None: no row (a gap)
SETTINGS = bounded(max_examples=100, steps=30)


def rows_of(start: int, slots: list[float | None], step_ms: int) -> list[tuple[int, float]]:
    return [(BASE_MS + (start + k) * step_ms, close) for k, close in enumerate(slots)
            if close is not None]


def frame(rows: list[tuple[int, float]]) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.to_datetime([t for t, _ in rows], unit="ms", utc=True),
                         "close": [c for _, c in rows]})


def expected(rows: list[tuple[int, float]], t_ms: int, step_ms: int) -> tuple[float, bool, int]:
    """(price or NaN, stale, candle open or -1): the module doc's definition, plainly."""
    usable: dict[int, float] = {}
    for opened, close in rows:  # the later usable row of a duplicated open time wins
        if math.isfinite(close) and close > 0:
            usable[opened] = close
    closed = [opened for opened in usable if opened + step_ms <= t_ms]
    if not closed:
        return math.nan, True, -1
    opened = max(closed)
    return usable[opened], t_ms - (opened + step_ms) >= step_ms, opened


class MarksMachine(RuleBasedStateMachine):
    @initialize(timeframe_s=st.sampled_from([300, 3600]), start=st.integers(0, 30),
                slots=SLOTS)
    def setup(self, timeframe_s: int, start: int, slots: list[float | None]) -> None:
        self.step_ms = timeframe_s * 1000
        self.rows: dict[str, list[tuple[int, float]]] = {
            LOADED: rows_of(start, slots, self.step_ms)}
        self.loaded: list[str] = []
        self.marks = BacktestMarks(self._load, timeframe_s)
        self.stale: Counter[str] = Counter()

    def _load(self, pair: str) -> Any:
        self.loaded.append(pair)
        return frame(self.rows[pair])

    @rule(pair=st.sampled_from(PAIRS), start=st.integers(0, 30), slots=SLOTS,
          disorder=st.sampled_from(["sorted", "reversed", "duplicate"]))
    def preload(self, pair: str, start: int, slots: list[float | None], disorder: str) -> None:
        """freqtrade hands the strategy a pair's whole frame (again at a new backtest run)."""
        rows = rows_of(start, slots, self.step_ms)
        if disorder == "reversed":
            rows.reverse()
        elif disorder == "duplicate" and rows:
            rows.append((rows[0][0], rows[-1][1] * 2 if math.isfinite(rows[-1][1]) else 5.0))
        self.rows[pair] = rows
        self.marks.preload(pair, frame(rows))

    @rule(pair=st.sampled_from([*PAIRS, LOADED]), slot=st.integers(-3, 48),
          within=st.sampled_from([0.0, 0.5, 1.0, -1.0]))
    def mark(self, pair: str, slot: int, within: float) -> None:
        """The mark at a candle edge (``within`` 0), a second after one, inside a candle or a
        second before the next edge."""
        if pair not in self.rows:
            return
        step = self.step_ms
        t_ms = BASE_MS + slot * step + {0.0: 0, 1.0: 1000, 0.5: step // 2, -1.0: step - 1000}[
            within]
        price, stale, opened = expected(self.rows[pair], t_ms, step)
        got = self.marks.price(pair, datetime.fromtimestamp(t_ms / 1000, UTC), FALLBACK)
        want = FALLBACK if math.isnan(price) else price
        assert got == want, (
            f"{pair} at {t_ms} ({slot} candles from the base, {within}): marked {got}, the "
            f"close of the newest candle closed by then is {want} (candle {opened})")
        self.stale[pair] += stale
        assert self.marks.fallbacks[pair] == self.stale[pair], "every stale mark is counted"
        rows = self.rows[pair]
        series = CloseSeries.of([t for t, _ in rows], [c for _, c in rows], step // 1000)
        core = mark_at(series, t_ms)
        assert (core.stale, core.candle_open_ms) == (stale, opened), (core, price, stale, opened)
        assert core.price == price or (math.isnan(core.price) and math.isnan(price)), core
        assert self.loaded.count(LOADED) <= 1, "a pair's candles are read once"


def test_marks_machine() -> None:
    run_state_machine_as_test(MarksMachine, settings=SETTINGS)
