"""The stale-candle guard (``stale_data`` in policy.yaml): no entry on a pair whose newest
analyzed candle is not the newest closed one. Dry-run and live only: in backtesting candles are
complete by construction (the adapter passes no guard there).

It judges the candles the strategy analyzed. A pair without any (outside the whitelist, or
before the first iteration) cannot carry a signal: freqtrade needs candles for one. Force
entries (tag ``force_entry``) are a human's call and pass (the adapter checks the tag).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from freqtrade.exchange import timeframe_to_prev_date, timeframe_to_seconds

from trader247.core.freshness import judge_freshness

logger = logging.getLogger(__name__)


@dataclass
class CandleFreshness:
    """``analyzed(pair)`` is ``dp.get_analyzed_dataframe(pair, timeframe)``."""

    analyzed: Callable[[str], Any]
    timeframe: str
    max_missing_candles: int
    _reported: dict[str, float] = field(default_factory=dict)

    def allows(self, pair: str, now: datetime) -> bool:
        frame, _ = self.analyzed(pair)
        if not len(frame):
            return True
        newest = frame["date"].iat[-1].timestamp()
        current_open = timeframe_to_prev_date(self.timeframe, now)
        # The candle before the one in progress; computed by freqtrade so 1w / 1M align.
        expected = timeframe_to_prev_date(self.timeframe, current_open - timedelta(seconds=1))
        decision = judge_freshness(newest, expected.timestamp(),
                                   timeframe_to_seconds(self.timeframe), self.max_missing_candles)
        if decision.allows_entry:
            return True
        # One line per pair and newest candle: a frozen feed is refused every iteration.
        if self._reported.get(pair) != newest:
            self._reported[pair] = newest
            logger.warning(
                "ENTRY_REFUSED %s: %s newest candle %s, expected %s (%d missing, allowed %d)",
                decision.freshness.value, pair, datetime.fromtimestamp(newest, UTC).isoformat(),
                expected.isoformat(), decision.missing_candles, self.max_missing_candles)
        return False
