"""Stale-candle entry guard: no entry on a signal computed from candles that stopped advancing.

freqtrade refuses a signal only when the newest candle is older than two candles plus
``outdated_offset`` (5 min by default): on a 5m strategy a feed frozen for up to 15 minutes still
re-enters on the last signal. The guard is stricter: the newest analyzed candle must be the newest
candle that has closed by now (``max_missing_candles`` allows a lag). Times are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Freshness(Enum):
    FRESH = "fresh"
    STALE_CANDLES = "stale_candles"


@dataclass(frozen=True)
class FreshnessDecision:
    freshness: Freshness
    missing_candles: int

    @property
    def allows_entry(self) -> bool:
        return self.freshness is Freshness.FRESH


def judge_freshness(
    newest_open_s: float,
    expected_open_s: float,
    timeframe_s: float,
    max_missing_candles: int,
) -> FreshnessDecision:
    """``newest_open_s``: open time of the newest analyzed candle; ``expected_open_s``: open time
    of the newest candle that has closed by now.

    An exchange that also serves the candle in progress is fresh too (newest > expected).
    """
    missing = max(0, int((expected_open_s - newest_open_s) // timeframe_s))
    if missing > max_missing_candles:
        return FreshnessDecision(Freshness.STALE_CANDLES, missing)
    return FreshnessDecision(Freshness.FRESH, missing)
