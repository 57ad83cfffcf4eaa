"""Higher-timeframe candles built from base-timeframe candles, closed candles only.

Used when a backtest has 5m candles on disk but no 1h file for the regime (the usual
``freqtrade download-data -t 5m``). A 1h candle is emitted only once every base candle inside
it is present in the frame (its last base candle has closed), so the result is exactly the 1h
candle a download would give for the same hour and never carries information from the future.
Freqtrade's ``merge_informative_pair`` then makes it visible at the base candle that closes the
hour, as it does for downloaded candles. Pure pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["closed_index", "resample_closed"]


def resample_closed(candles: pd.DataFrame, base_minutes: int, target_minutes: int) -> pd.DataFrame:
    """``candles`` (date, open, high, low, close, volume at ``base_minutes``) -> closed candles
    at ``target_minutes``; a trailing, still-open candle is dropped.

    The first candle is dropped too when the frame starts inside it. ``ValueError`` when
    ``target_minutes`` is not a whole multiple of ``base_minutes``.
    """
    if base_minutes <= 0 or target_minutes % base_minutes != 0 or target_minutes < base_minutes:
        raise ValueError(f"cannot build {target_minutes}m candles from {base_minutes}m candles: "
                         "the target must be a whole multiple of the base")
    columns = ["date", "open", "high", "low", "close", "volume"]
    if candles.empty:
        return pd.DataFrame(columns=columns)
    bucket = candles["date"].dt.floor(f"{target_minutes}min")
    grouped = candles.groupby(bucket, sort=True)
    out = pd.DataFrame({
        "open": grouped["open"].first(),
        "high": grouped["high"].max(),
        "low": grouped["low"].min(),
        "close": grouped["close"].last(),
        "volume": grouped["volume"].sum(),
        "count": grouped["close"].size(),
    })
    out.index.name = "date"
    out = out.reset_index()
    # Only the newest bucket can be open (freqtrade fills gaps inside a frame with zero-volume
    # candles): it is closed when its last base candle is in the frame.
    last_base = candles["date"].iat[-1]
    step = pd.Timedelta(minutes=base_minutes)
    span = pd.Timedelta(minutes=target_minutes)
    if last_base < out["date"].iat[-1] + span - step:
        out = out.iloc[:-1]
    # A frame starting mid-hour would give the first candle a wrong open: drop it too.
    if len(out) and candles["date"].iat[0] > out["date"].iat[0]:
        out = out.iloc[1:]
    return out[columns].reset_index(drop=True)


def closed_index(base_dates: pd.Series, base_minutes: int, higher_dates: pd.Series,
                 higher_minutes: int) -> np.ndarray:
    """For each base candle, the row of the newest higher-timeframe candle that has closed by
    the base candle's close (-1: none yet).

    The same alignment as freqtrade's ``merge_informative_pair`` (a 1h candle of 10:00 is
    visible from the 5m candle of 10:55 on), as row numbers: one ``searchsorted`` instead of a
    merge and a forward fill per pair. ``higher_dates`` must be sorted.
    """
    base_close = base_dates.to_numpy(dtype="datetime64[ns]") + np.timedelta64(base_minutes, "m")
    higher_close = (higher_dates.to_numpy(dtype="datetime64[ns]")
                    + np.timedelta64(higher_minutes, "m"))
    rows: np.ndarray = np.searchsorted(higher_close, base_close, side="right") - 1
    return rows
