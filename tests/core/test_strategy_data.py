"""Data plumbing of Trader247Strategy (issue [S] item 5): frames in, columns out, no freqtrade."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trader247.core.config import PolicyConfig, UniverseConfig
from trader247.core.scaling import MOMENTUM_RANK, VOLATILITY
from trader247.core.signals import Regime, SignalParams
from trader247.core.strategy_data import (
    Frames,
    MarketCache,
    PairData,
    SourcePairs,
    first_entry,
    force_eligible_assets,
    higher_candles,
    history_need,
    merge_market,
    merge_trend,
    missing_candles,
    quote_to_usd,
    short_data_warning,
    source_pairs,
)
from trader247.core.trend import market_column, trend_column

HOURLY = Frames("1h", 60, "1h", 60)
FIVE = Frames("5m", 5, "1h", 60)
RULES = UniverseConfig().to_core(PolicyConfig().liquidity)


def candles(n: int, minutes: int, start: str = "2025-01-01", close: np.ndarray | None = None,
            volume: float = 1e6) -> pd.DataFrame:
    c = np.linspace(100.0, 200.0, n) if close is None else close
    return pd.DataFrame({"date": pd.date_range(start, periods=n, freq=f"{minutes}min", tz="UTC"),
                         "open": c, "high": c, "low": c, "close": c, "volume": volume})


def test_higher_candles_are_built_from_base_only_when_none_are_on_hand() -> None:
    base = candles(48, 5)
    built, flag = higher_candles(pd.DataFrame(), base, FIVE)
    assert flag and len(built) == 4 and built["close"].iat[0] == base["close"].iat[11]
    own = candles(10, 60)
    assert higher_candles(own, base, FIVE) == (own, False)
    assert higher_candles(own, base, HOURLY)[0] is base  # same timeframe: the pair's own frame


def test_an_hour_is_visible_from_the_5m_candle_that_closes_it() -> None:
    base = candles(36, 5)
    hourly = candles(3, 60, close=np.array([1.0, 2.0, 3.0]))
    out = merge_trend(base.copy(), hourly, FIVE, (1.0,), 1.0)
    ma = out[trend_column(1.0)]
    assert ma.iloc[:11].isna().all()  # 00:00 .. 00:50: the 00:00 hour is still open
    assert ma.iat[11] == 1.0 and ma.iat[22] == 1.0 and ma.iat[23] == 2.0


def test_market_cache_recomputes_only_on_a_new_candle() -> None:
    cache = MarketCache(SignalParams(), (2.0,))
    btc = candles(200, 60)
    first = cache.frame("BTC/USD", btc)
    assert cache.frame("BTC/USD", btc) is first
    assert cache.frame("BTC/USD", candles(201, 60)) is not first
    assert list(first.columns) == ["regime", market_column(2.0)]


@pytest.mark.parametrize("last, up", [(100.0, 0.0), (100.0001, 1.0)])
def test_market_is_up_only_strictly_above_its_mean(last: float, up: float) -> None:
    # Mean of the last two closes: 100 and ``last``.
    btc = candles(3, 60, close=np.array([100.0, 100.0, last]))
    up_column = MarketCache(SignalParams(), (2.0,)).frame("BTC/USD", btc)[market_column(2.0)]
    assert up_column.iat[-1] == up
    assert np.isnan(up_column.iat[0])  # window not full: unknown, not down


def test_merge_market_without_candles_is_unknown_regime_everywhere() -> None:
    df = candles(5, 60)
    empty = pd.DataFrame(columns=["date", "close"])
    market = pd.DataFrame({"regime": [], market_column(2.0): []})
    out = merge_market(df, empty, market, HOURLY)
    assert set(out["regime"]) == {Regime.UNKNOWN.value}
    assert out[market_column(2.0)].isna().all()


def test_quote_to_usd_by_date_and_its_absence() -> None:
    df = candles(3, 60)
    usd = candles(2, 60, start="2025-01-01 01:00", close=np.array([50_000.0, 51_000.0]))
    assert quote_to_usd(df, None) == 1.0
    assert np.isnan(quote_to_usd(df, pd.DataFrame()))
    values = quote_to_usd(df, usd)
    assert np.isnan(values[0]) and list(values[1:]) == [50_000.0, 51_000.0]


def test_force_eligible_assets_are_the_bases_of_the_shipped_universe() -> None:
    assert force_eligible_assets(RULES) == ("BTC", "ETH", "SOL")


def test_pair_data_with_btc_stake_takes_the_market_trend_from_btc_usd() -> None:
    pair = candles(30, 60, close=np.full(30, 0.05))
    btc_usd = candles(30, 60, close=np.concatenate([np.full(29, 100.0), [90.0]]))
    data = PairData(HOURLY, MarketCache(SignalParams(), (5.0,)), RULES, 2.0, 24,
                    SourcePairs(regime=None, market="BTC/USD", usd="BTC/USD",
                                quote_is_usd=False), 0.0, 0)
    frames = {("BTC/USD", "1h"): btc_usd}
    out, notes = data.columns(pair.copy(), "ETH/BTC", lambda p, tf: frames[(p, tf)], list)
    assert notes == []
    assert out[market_column(5.0)].iat[-2] == 0.0  # 100 is not above a mean of 100
    assert out[market_column(5.0)].iat[-1] == 0.0  # BTC fell: the market filter closes
    assert out["eligible"].all()  # ETH is a force-eligible asset
    assert out["usd_volume_24h"].iat[-1] == pytest.approx(24 * 0.05 * 1e6 * 100.0, rel=0.01)


def test_pair_data_notes_built_candles_and_missing_regime() -> None:
    data = PairData(FIVE, MarketCache(SignalParams(), (1.0,)), RULES, 1.0, 12,
                    SourcePairs("BTC/USD", "BTC/USD", None, quote_is_usd=True), 0.0, 0)
    empty = pd.DataFrame(columns=["date", "open", "high", "low", "close", "volume"])
    _, notes = data.columns(candles(36, 5), "ETH/USD", lambda p, tf: empty, list)
    # No BTC candles of either timeframe: a warning (no entries); ETH's hours built from 5m.
    assert [(n.key, n.warning) for n in notes] == [("none BTC/USD", True),
                                                   ("built ETH/USD", False)]
    _, notes = data.columns(candles(36, 5), "ETH/USD",
                            lambda p, tf: candles(36, 5) if p == "BTC/USD" else empty, list)
    assert not any(n.warning for n in notes)


@pytest.mark.parametrize("frames, ma, triggers, base, higher, hours", [
    (HOURLY, (600.0,), False, 600, 600, 600.0),
    (HOURLY, (300.0, 800.0), True, 800, 800, 800.0),
    (FIVE, (600.0,), True, 864, 600, 600.0),  # triggers 72 h at 12 per hour
    (FIVE, (600.0,), False, 289, 600, 600.0),  # 24 h volume + 1
    (Frames("15m", 15, "1h", 60), (600.0,), True, 288, 600, 600.0),
])
def test_history_need_per_timeframe(frames: Frames, ma: tuple[float, ...], triggers: bool,
                                    base: int, higher: int, hours: float) -> None:
    need = history_need(frames, SignalParams(candles_per_hour=60 / frames.base_minutes),
                        SignalParams(candles_per_hour=60 / frames.higher_minutes), ma, 168.0,
                        triggers=triggers)
    assert (need.base_candles, need.higher_candles, need.hours) == (base, higher, hours)
    # freqtrade loads startup_candle_count candles of EVERY timeframe: both needs covered.
    assert need.startup_candles == max(base, higher)


def test_history_need_describes_both_timeframes() -> None:
    need = history_need(FIVE, SignalParams(candles_per_hour=12.0), SignalParams(), (600.0,),
                        168.0, triggers=True)
    assert need.describe() == ("600 h of history before the first entry (600 1h candles for the "
                               "trend and regime, 864 5m candles for the 5m indicators; "
                               "startup_candle_count 864)")
    assert need.days == 25


def frame_with(ma: list[float], regime: list[str]) -> pd.DataFrame:
    df = candles(len(ma), 60)
    df[trend_column(600.0)] = ma
    df["regime"] = regime
    return df


def test_first_entry_needs_the_mean_and_a_known_regime() -> None:
    df = frame_with([np.nan, 1.0, 1.0], ["bull", Regime.UNKNOWN.value, "bull"])
    assert first_entry(df, trend_column(600.0)) == df["date"].iat[2]
    assert first_entry(frame_with([np.nan] * 3, ["bull"] * 3), trend_column(600.0)) is None


def test_short_data_warning_names_hours_and_the_download_command() -> None:
    need = history_need(FIVE, SignalParams(candles_per_hour=12.0), SignalParams(), (600.0,),
                        168.0, triggers=False)
    df = candles(19 * 288, 5, start="2025-06-11")
    text = short_data_warning("BTC/USD", df, need, "coinbase", ["BTC/USD", "ETH/USD"])
    assert "BTC/USD has 456 h of candles (2025-06-11 00:00 .. 2025-06-29 23:55)" in text
    assert "shorter than the 600 h the signals need" in text
    # 25 days for the signals + 19 of data + 1 for the partial day.
    assert ("`freqtrade download-data --exchange coinbase --pairs BTC/USD ETH/USD --timeframes "
            "5m 1h --days 45`") in text


def test_missing_candles_names_the_file_and_both_timeframes() -> None:
    assert missing_candles("BTC/USD", FIVE, "d/BTC_USD-1h.feather", "coinbase") == (
        "Trader247Strategy: no BTC/USD 1h candles (d/BTC_USD-1h.feather is missing, and no 5m "
        "candles to build them from): run `freqtrade download-data --exchange coinbase --pairs "
        "BTC/USD --timeframes 1h 5m`")


@pytest.mark.parametrize("stake, listed, on_disk, expected", [
    ("USD", {"BTC/USD"}, set(), SourcePairs("BTC/USD", "BTC/USD", None, True)),
    ("USDC", {"BTC/USDC"}, set(), SourcePairs("BTC/USDC", "BTC/USDC", None, True)),
    # Stake BTC: no BTC/BTC, so each pair's own regime; BTC/USD for the market and volumes.
    ("BTC", {"BTC/USD"}, {("BTC/USD", "1h")}, SourcePairs(None, "BTC/USD", "BTC/USD", False)),
    ("BTC", {"BTC/USD"}, set(), SourcePairs(None, None, None, False)),  # listed, no candles
    ("BTC", set(), {("BTC/USD", "1h")}, SourcePairs(None, None, None, False)),  # not listed
])
def test_source_pairs(stake: str, listed: set[str], on_disk: set[tuple[str, str]],
                      expected: SourcePairs) -> None:
    pegged = frozenset({"USDC", "USDT"})
    got = source_pairs(stake, pegged, listed.__contains__,
                       lambda p, tf: (p, tf) in on_disk, HOURLY)
    assert got == expected


def test_history_note_first_entry_is_never_before_the_backtest_start() -> None:
    data = PairData(HOURLY, MarketCache(SignalParams(), (600.0,)), RULES, 168.0, 24,
                    SourcePairs("BTC/USD", "BTC/USD", None, True), 0.0, 0)
    need = history_need(HOURLY, SignalParams(), SignalParams(), (600.0,), 168.0, triggers=False)
    df = frame_with([np.nan, 1.0, 1.0], ["bull"] * 3)
    asked: list[bool] = []

    def pairs() -> list[str]:
        asked.append(True)
        return ["BTC/USD"]

    early = data.history_note(df, "BTC/USD", 600.0, need, None, "coinbase", pairs)
    assert (early.key, early.warning) == ("first", False)
    assert "possible: 2025-01-01 01:00 (BTC/USD" in early.text
    late = data.history_note(df, "BTC/USD", 600.0, need, df["date"].iat[2], "coinbase", pairs)
    assert "possible: 2025-01-01 02:00" in late.text
    assert not asked  # the pair list is asked for the warning only
    short = data.history_note(frame_with([np.nan] * 3, ["bull"] * 3), "BTC/USD", 600.0, need,
                              None, "coinbase", pairs)
    assert (short.key, short.warning, asked) == ("short", True, [True])


def test_source_notes_warn_once_without_usd_candles_for_a_non_usd_stake() -> None:
    ok = SourcePairs(None, "BTC/USD", "BTC/USD", False).notes("BTC", HOURLY, RULES, "coinbase")
    assert [(n.key, n.warning) for n in ok] == [("regime", False)]
    assert ok[0].text.endswith("each pair's own 1h candles (BTC/BTC does not exist)")
    missing = SourcePairs(None, None, None, False).notes("BTC", HOURLY, RULES, "coinbase")
    assert [(n.key, n.warning) for n in missing] == [("regime", False), ("usd", True)]
    assert ("only force-eligible assets (BTC, ETH, SOL, any quote) are eligible in backtests; "
            "run `freqtrade download-data --exchange coinbase --pairs BTC/USD --timeframes 1h`"
            ) in missing[1].text


def test_pair_data_ranks_the_whitelist_by_trailing_return_without_look_ahead() -> None:
    n = 10
    closes = {"A/USD": np.linspace(100.0, 130.0, n), "B/USD": np.linspace(100.0, 110.0, n),
              "C/USD": np.concatenate([np.linspace(100.0, 140.0, n - 1), [50.0]])}
    frames = {(p, "1h"): candles(n, 60, close=c) for p, c in closes.items()}
    data = PairData(HOURLY, MarketCache(SignalParams(), (2.0,)), RULES, 2.0, 24,
                    SourcePairs("BTC/USD", "BTC/USD", None, True), 3.0, 2)
    frames[("BTC/USD", "1h")] = candles(n, 60)
    asked: list[bool] = []

    def universe() -> list[str]:
        asked.append(True)
        return list(closes)

    out, _ = data.columns(frames[("B/USD", "1h")].copy(), "B/USD",
                          lambda p, tf: frames[(p, tf)], universe)
    rank = out[MOMENTUM_RANK]
    assert rank.iloc[:2].isna().all()  # 2 h return unknown for the first two candles
    assert rank.iat[-2] == 3.0  # C and A rose more over 2 h; C's last-candle fall is not seen
    assert rank.iat[-1] == 2.0  # C fell: B is second of three
    assert out[VOLATILITY].iloc[:3].isna().all() and out[VOLATILITY].iat[-1] > 0
    again, _ = data.columns(frames[("A/USD", "1h")].copy(), "A/USD",
                            lambda p, tf: frames[(p, tf)], universe)
    assert again[MOMENTUM_RANK].iat[-1] == 1.0 and len(asked) == 2
