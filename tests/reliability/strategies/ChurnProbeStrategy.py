"""A probe that wants to be in every pair all the time: the fault matrix's "would enter" witness.

It enters on every candle and leaves on the next iteration (``minimal_roi`` of -100 % is
always reached), so whenever data is good the bot keeps opening trades on every whitelisted
pair. A zero count of entries during a fault therefore means the bot *refused*, not that the
strategy had nothing to do.

- ``enter_tag`` carries the open time of the signal candle (``c%Y%m%dT%H%M``): the harness reads
  which candle each trade was based on from the trades table and judges its freshness against
  the trade's open time. No other channel is needed (the database is the bot's own record).
- Freqtrade locks a pair until the end of the candle after every exit ("Auto lock", against
  immediate re-buys). With a 1m timeframe that would leave the probe idle between candle
  boundaries, exactly where most faults happen; the probe lifts that lock after
  ``REENTRY_S`` seconds (the pair then trades about every 7 s). Other locks (the cap's global
  lock) are left alone.
- The cap mixin goes first and its protection is declared, as every strategy of ours does: the
  entries under test pass the same gates (and the same stale-data guard) as the real strategy.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from freqtrade.persistence import PairLocks
from freqtrade.persistence.pairlock import PairLock
from freqtrade.strategy import IStrategy
from pandas import DataFrame

from trader247.strategy import ExposureCapMixin

logger = logging.getLogger(__name__)

REENTRY_S = 5.0
LOCK_HORIZON = timedelta(hours=1)
TAG_FORMAT = "c%Y%m%dT%H%M"


class ChurnProbeStrategy(ExposureCapMixin, IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1m"
    minimal_roi = {"0": -1.0}
    stoploss = -0.99
    startup_candle_count = 2
    use_exit_signal = False

    @property
    def protections(self) -> list[dict[str, Any]]:
        return [{"method": "ExposureCap"}]

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = 1
        dataframe["enter_tag"] = dataframe["date"].dt.strftime(TAG_FORMAT)
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe

    def bot_loop_start(self, current_time: datetime, **kwargs: Any) -> None:
        cutoff = current_time - timedelta(seconds=REENTRY_S)
        lifted = False
        # Also locks already over by the wall clock: freqtrade checks a pair's locks at the time
        # of its newest candle, so on stale candles an expired "Auto lock" still blocks it, and
        # would hide whether our stale-candle guard refuses the entry.
        for lock in PairLocks.get_pair_locks(None, current_time - LOCK_HORIZON):
            # the database hands back naive UTC times
            locked_at = lock.lock_time.replace(tzinfo=UTC)
            if lock.reason == "Auto lock" and lock.pair != "*" and locked_at <= cutoff:
                lock.active = False
                lifted = True
        if lifted and PairLocks.use_db:
            PairLock.session.commit()
