"""The cap and one entry per pair at a fixed candle (``ENTRY``), nothing else.

Backtests on synthetic candles then show what the cap does with prices alone: no signal exits,
no ROI, no stop-loss; every sell is a trim.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from freqtrade.strategy import IStrategy
from pandas import DataFrame

from trader247.strategy import ExposureCapMixin


class EntryProbeStrategy(ExposureCapMixin, IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1h"
    minimal_roi = {"0": 100.0}
    stoploss = -0.99
    startup_candle_count = 1
    ENTRY = pd.Timestamp("2025-01-03 00:00", tz="UTC")  # the signal candle; fills one later

    @property
    def protections(self) -> list[dict[str, Any]]:
        return [{"method": "ExposureCap"}]

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["enter_long"] = (dataframe["date"] == self.ENTRY).astype(int)
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["exit_long"] = 0
        return dataframe
