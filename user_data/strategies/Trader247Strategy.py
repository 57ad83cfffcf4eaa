"""Trader247Strategy (foundation stage): a small TA-Lib strategy so the stack runs end to end.

The Strategy issue ([D]) replaces the signal logic with ``trader247.core.signals``.
"""

from __future__ import annotations

from typing import Any

import talib.abstract as ta
from freqtrade.strategy import IStrategy
from pandas import DataFrame

from trader247.strategy import ExposureCapMixin


class Trader247Strategy(ExposureCapMixin, IStrategy):
    INTERFACE_VERSION = 3
    timeframe = "1h"
    can_short = False
    minimal_roi = {"0": 0.12, "48": 0.04, "120": 0.0}
    stoploss = -0.08
    startup_candle_count = 60
    process_only_new_candles = True
    position_adjustment_enable = True

    @property
    def protections(self) -> list[dict[str, Any]]:
        return [{"method": "ExposureCap"}]

    def populate_indicators(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe["rsi"] = ta.RSI(dataframe, timeperiod=14)
        dataframe["ema_fast"] = ta.EMA(dataframe, timeperiod=12)
        dataframe["ema_slow"] = ta.EMA(dataframe, timeperiod=48)
        return dataframe

    def populate_entry_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        uptrend = dataframe["ema_fast"] > dataframe["ema_slow"]
        dataframe.loc[uptrend & (dataframe["rsi"] < 45) & (dataframe["volume"] > 0), "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe: DataFrame, metadata: dict) -> DataFrame:
        dataframe.loc[dataframe["rsi"] > 75, "exit_long"] = 1
        return dataframe
