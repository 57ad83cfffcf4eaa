"""The cap's mark sources behind one interface: live/dry-run prices or backtest closes.

The price an open position is valued at. The rule is :mod:`trader247.core.marks`; the backtest
source reads ``backtest_marks``' candle index, the live one ``price_tape``'s prices.

Two implementations of one small interface (``begin_iteration``, ``refresh``, ``price``,
``fallbacks``):

- :class:`LiveMarks` (dry-run / live): the price freqtrade fetched anyway (``price_tape``), else a
  ticker, else the newest analyzed close, else the trade's open rate. One ticker request per pair
  per iteration at most: the entry gate reuses the loop's marks. The last two are not current
  prices: ``fallbacks()`` names the pairs marked so this iteration (the operator is told,
  ``MARK_FALLBACK``).
- :class:`BacktestMarkSource` (backtesting / hyperopt): the close of the newest candle closed at the
  loop's time, from the unsliced history (``backtest_marks``).

The cap adapter holds exactly one of them; tests pass fakes with the same three methods.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from trader247.adapters import price_tape
from trader247.adapters.backtest_marks import BacktestMarks
from trader247.core.cap_notices import MarkSource as FallbackSource
from trader247.interrupts import raise_interrupt

logger = logging.getLogger(__name__)


class MarkSource(Protocol):
    def begin_iteration(self) -> None: ...

    def refresh(self) -> None: ...

    def price(self, pair: str, open_rate: float, now: datetime | None) -> float: ...

    def fallbacks(self) -> dict[str, tuple[FallbackSource, float]]: ...


@dataclass
class LiveMarks:
    """``ticker(pair)`` and ``analyzed(pair)`` are freqtrade's ``dp.ticker`` and
    ``dp.get_analyzed_dataframe(pair, timeframe)``; ``tape`` the bot's exchange tape (or None)."""

    ticker: Callable[[str], Any]
    analyzed: Callable[[str], Any]
    tape: price_tape.PriceTape | None = None
    _fresh_since: float = float("inf")
    _loop_started: float | None = None
    _marks: dict[str, float] = field(default_factory=dict)
    _fallbacks: dict[str, tuple[FallbackSource, float]] = field(default_factory=dict)

    def begin_iteration(self) -> None:
        """Prices that arrived since the previous iteration began are fresh enough to mark."""
        started = price_tape.clock()
        self._fresh_since = self._loop_started if self._loop_started is not None else started
        self._loop_started = started
        self._marks = {}
        self._fallbacks = {}

    def refresh(self) -> None:
        """Current prices for the rest of the iteration (a trim sells what the value makes at
        the mark: a mark one iteration old over-sells in a rally)."""
        self._fresh_since = float("inf")
        self._marks = {}
        self._fallbacks = {}

    def fallbacks(self) -> dict[str, tuple[FallbackSource, float]]:
        """Pairs marked this iteration at a fallback (candle close, open rate) and the price."""
        return dict(self._fallbacks)

    def price(self, pair: str, open_rate: float, now: datetime | None) -> float:
        mark = self._marks.get(pair)
        if mark is None:
            mark = self._marks[pair] = self._fetch(pair, open_rate)
        return mark

    def _fetch(self, pair: str, open_rate: float) -> float:
        if self.tape is not None:
            recent = self.tape.price(pair, self._fresh_since)
            if recent is not None:
                return recent
        since = sys.exception()
        try:
            ticker = self.ticker(pair)
            if ticker and ticker.get("last"):
                return float(ticker["last"])
        except Exception as exc:  # a ticker fault must not stop the loop: fall back to candles
            raise_interrupt(exc, since=since)  # but a SIGTERM inside the request must
            logger.debug("ticker for %s unavailable: %s", pair, exc)  # pragma: no mutate
        frame, _ = self.analyzed(pair)
        if len(frame):
            close = float(frame["close"].iat[-1])
            self._fallbacks[pair] = ("candle_close", close)
            return close
        self._fallbacks[pair] = ("open_rate", float(open_rate))
        return float(open_rate)


@dataclass
class BacktestMarkSource:
    """Close of the newest candle closed at ``now``: see :mod:`trader247.adapters.backtest_marks`
    for why the unsliced history is searched."""

    marks: BacktestMarks

    def begin_iteration(self) -> None:
        return None

    def refresh(self) -> None:
        return None

    def fallbacks(self) -> dict[str, tuple[FallbackSource, float]]:
        """Backtests count and log their fallbacks themselves (``BacktestMarks``)."""
        return {}

    def price(self, pair: str, open_rate: float, now: datetime | None) -> float:
        if now is None:
            return float(open_rate)
        return self.marks.price(pair, now, float(open_rate))
