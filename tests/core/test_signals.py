from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from trader247.core.signals import (
    DEFAULT_EXIT,
    EXIT_RULES,
    TRIGGERS,
    ExitRule,
    Regime,
    SignalParams,
    add_entries,
    add_indicators,
    build_signals,
    candles_per_hour,
    exit_rule,
    regime,
    strength_column,
)

STRENGTHS = [strength_column(name) for name in TRIGGERS]
P = SignalParams()


def frame(close: list[float] | np.ndarray, volume: list[float] | np.ndarray | None = None,
          freq: str = "1h", spread: float = 0.002) -> pd.DataFrame:
    """Candles whose open is the previous close and whose high/low hug the body."""
    close = np.asarray(close, dtype=float)
    opens = np.concatenate([[close[0]], close[:-1]])
    vol = np.full(close.size, 100.0) if volume is None else np.asarray(volume, dtype=float)
    return pd.DataFrame({
        "date": pd.date_range("2025-01-01", periods=close.size, freq=freq, tz="UTC"),
        "open": opens,
        "high": np.maximum(opens, close) * (1 + spread),
        "low": np.minimum(opens, close) * (1 - spread),
        "close": close,
        "volume": vol,
    })


def flat(n: int = 120, price: float = 100.0) -> list[float]:
    return [price] * n


def zigzag(n: int, step_up: float, step_down: float, start: float = 100.0) -> list[float]:
    """Alternate up and down moves (so RSI is neither 0 nor 100)."""
    out = [start]
    for i in range(n - 1):
        out.append(out[-1] * (1 + (step_up if i % 2 == 0 else -step_down)))
    return out


def last(df: pd.DataFrame, trigger: str) -> float:
    return float(df[strength_column(trigger)].iat[-1])


def random_walk(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0005, 0.02, n)))
    volume = rng.lognormal(5, 0.8, n)
    df = frame(close, volume)
    df["high"] = np.maximum(df["open"], df["close"]) * (1 + rng.uniform(0, 0.02, n))
    df["low"] = np.minimum(df["open"], df["close"]) * (1 - rng.uniform(0, 0.02, n))
    return df


# --------------------------------------------------------------------------- triggers


@pytest.mark.parametrize("move, expected", [
    (0.00, 0.0), (0.015, 0.0), (0.02, 0.0), (0.04, 0.5), (0.06, 1.0), (0.10, 1.0), (-0.08, 0.0)])
def test_price_move_ramps_from_min_to_full_over_four_hours(move: float, expected: float) -> None:
    close = flat(100) + [100 * (1 + move * k / 4) for k in range(1, 5)]
    assert last(add_indicators(frame(close), P), "price_move") == pytest.approx(expected)


def test_price_move_looks_only_four_hours_back() -> None:
    # +6 % spread over 12 h is 2 % per 4 h: at the minimum, so no strength.
    close = flat(100) + [100 * 1.005 ** k for k in range(1, 13)]
    assert last(add_indicators(frame(close), P), "price_move") < 0.05


@pytest.mark.parametrize("spike_volume, rising, fires", [
    (500.0, True, True),     # 5x the day's volume on a rising price
    (500.0, False, False),   # same volume on a falling price: selling, not a long signal
    (150.0, True, False),    # 1.5x: below volume_min_ratio
])
def test_volume_spike(spike_volume: float, rising: bool, fires: bool) -> None:
    step = 1.002 if rising else 0.998
    close = flat(100) + [100 * step, 100 * step**2]
    volume = [100.0] * 100 + [spike_volume] * 2
    strength = last(add_indicators(frame(close, volume), P), "volume_spike")
    assert (strength > 0) is fires
    if fires:
        assert strength == 1.0


@pytest.mark.parametrize("close_last, expected", [
    (100.0, 0.0),    # inside the range
    (100.2, 0.0),    # at the previous high (100 * 1.002): not above it
    (101.2, 0.5 + 0.5 * (101.2 / 100.2 - 1) * 100 / 3.0),
    (110.0, 1.0),
])
def test_breakout_above_the_previous_48h_high(close_last: float, expected: float) -> None:
    df = frame(flat(100) + [close_last])
    assert last(add_indicators(df, P), "breakout") == pytest.approx(expected, abs=1e-9)


def test_breakout_ignores_highs_older_than_the_window() -> None:
    # A spike to 120 sixty hours ago is outside the 48 h window; 105 still breaks out.
    close = flat(40) + [120.0] + flat(60) + [105.0]
    assert last(add_indicators(frame(close), P), "breakout") == 1.0


def dip_and_bounce(drop: float, bounce: float) -> list[float]:
    down = [100 * (1 - drop) ** (k / 24) for k in range(1, 25)]
    low = down[-1]
    return flat(100) + down + [low * (1 + bounce / 2), low * (1 + bounce)]


@pytest.mark.parametrize("drop, bounce, fires", [
    (0.15, 0.02, True),    # a 15 % slide, oversold, then a 2 % bounce
    (0.15, 0.0, False),    # no bounce yet: still falling knife
    (0.03, 0.02, False),   # shallow dip: below reversal_min_drop_pct
])
def test_reversal(drop: float, bounce: float, fires: bool) -> None:
    close = dip_and_bounce(drop, bounce) if bounce else flat(100) + [
        100 * (1 - drop) ** (k / 24) for k in range(1, 27)]
    strength = last(add_indicators(frame(close), P), "reversal")
    assert (strength > 0) is fires


def test_reversal_needs_an_oversold_rsi() -> None:
    # The same 15 % drop as a zigzag keeps RSI above 30: no reversal.
    close = flat(100) + zigzag(40, 0.02, 0.028, start=100.0)
    df = add_indicators(frame(close), P)
    assert df["rsi"].iloc[-10:].min() > P.rsi_oversold
    assert last(df, "reversal") == 0.0


@pytest.mark.parametrize("up, down, fires", [
    (0.010, 0.004, True),    # steady uptrend, RSI about 71
    (0.004, 0.010, False),   # downtrend
    (0.030, 0.002, False),   # parabolic: RSI above rsi_overbought
])
def test_momentum(up: float, down: float, fires: bool) -> None:
    df = add_indicators(frame(flat(60) + zigzag(100, up, down)), P)
    assert (last(df, "momentum") > 0) is fires


def test_flat_market_fires_nothing() -> None:
    out = build_signals(frame(flat(400)), P)
    assert (out[STRENGTHS] == 0).all().all()
    assert out["enter_long"].sum() == 0


# --------------------------------------------------------------------------- NaN, look-ahead


def test_no_nan_leaks_and_zero_strength_while_warming_up() -> None:
    df = random_walk(400, seed=1)
    out = build_signals(df, P)
    for column in [*STRENGTHS, "conviction", "enter_long"]:
        assert not out[column].isna().any(), column
    assert out[STRENGTHS].to_numpy().min() >= 0 and out[STRENGTHS].to_numpy().max() <= 1
    assert out["conviction"].between(0, 1).all()
    warm = P.warmup_candles(include_regime=False)
    assert (out[STRENGTHS].iloc[: 4] == 0).all().all()  # no window of any trigger is full yet
    assert (out[STRENGTHS].iloc[warm:] > 0).any().all()  # every trigger fires at some point
    assert (out["regime"].iloc[: P.regime_warmup_candles() - 1] == Regime.UNKNOWN).all()
    assert set(out["enter_tag"].dropna()) <= set(TRIGGERS)
    assert out.loc[out["enter_long"] == 0, "enter_tag"].isna().all()


def test_nan_and_zero_volume_inputs_do_not_leak() -> None:
    df = random_walk(300, seed=2)
    df.loc[50:60, "volume"] = 0.0
    df.loc[100, ["close", "high", "low"]] = np.nan
    out = build_signals(df, P)
    assert not out[[*STRENGTHS, "conviction", "enter_long"]].isna().any().any()
    assert (out.loc[50:60, "enter_long"] == 0).all()


@pytest.mark.parametrize("seed", [3, 4, 5])
@pytest.mark.parametrize("cut", [200, 317, 450])
def test_appending_rows_does_not_change_earlier_outputs(seed: int, cut: int) -> None:
    full = random_walk(600, seed)
    whole = build_signals(full, P)
    head = build_signals(full.iloc[:cut].copy(), P)
    pd.testing.assert_frame_equal(whole.iloc[:cut], head, check_exact=True)


def test_inputs_are_not_modified() -> None:
    df = random_walk(300, seed=6)
    before = df.copy()
    build_signals(df, P)
    pd.testing.assert_frame_equal(df, before)


# --------------------------------------------------------------------------- conviction, gating


def strong_breakout() -> pd.DataFrame:
    """Flat, then a 10 % jump on 5x volume: breakout, price_move and volume_spike at full."""
    close = flat(200) + [101.0, 104.0, 107.0, 110.0]
    volume = [100.0] * 200 + [500.0] * 4
    return add_indicators(frame(close, volume), P)


def test_conviction_is_the_weighted_mean_and_the_tag_the_dominant_trigger() -> None:
    df = strong_breakout()
    df["regime"] = Regime.BULL.value
    out = add_entries(df, P)
    row = out.iloc[-1]
    weights = P.weights
    expected = sum(row[strength_column(n)] * w for n, w in weights.items()) / sum(weights.values())
    assert row["conviction"] == pytest.approx(expected)
    assert row["enter_long"] == 1
    assert row["enter_tag"] == "breakout"
    only_price = P.with_changes(weight_breakout=0.0, weight_price_move=5.0)
    assert add_entries(df, only_price)["enter_tag"].iat[-1] == "price_move"


def strengths(regime_label: Regime, **values: float) -> pd.DataFrame:
    """One candle with the given trigger strengths (others 0), as add_indicators leaves it."""
    row = {strength_column(n): [values.get(n, 0.0)] for n in TRIGGERS}
    return pd.DataFrame({**row, "volume": [1.0], "regime": [regime_label.value]})


# Default weights 1, 0.5, 2, 0.5, 2 (sum 6): breakout alone = 2/6, with price_move = 3/6.
@pytest.mark.parametrize("label, values, enters", [
    (Regime.BULL, {"breakout": 1.0}, True),                       # 0.33 >= 0.3
    (Regime.CHOP, {"breakout": 1.0}, False),                      # 0.33 <  0.3 + 0.1
    (Regime.CHOP, {"breakout": 1.0, "price_move": 1.0}, True),    # 0.5  >= 0.4
    (Regime.BEAR, {"breakout": 1.0, "price_move": 0.9}, False),   # 0.48 <  0.3 + 0.2
    (Regime.BEAR, {"breakout": 1.0, "price_move": 1.0}, True),    # 0.5  >= 0.5
    (Regime.CRASH, {n: 1.0 for n in TRIGGERS}, False),            # 1.0, but a crash
    (Regime.UNKNOWN, {n: 1.0 for n in TRIGGERS}, False),          # no regime yet
])
def test_regime_raises_or_blocks_the_threshold(
    label: Regime, values: dict[str, float], enters: bool
) -> None:
    out = add_entries(strengths(label, **values), P)
    assert bool(out["enter_long"].iat[0]) is enters
    needed = out["conviction_needed"].iat[0]
    assert math.isnan(needed) if label in (Regime.CRASH, Regime.UNKNOWN) else needed >= 0.3


def test_missing_regime_values_block_entries() -> None:
    df = strengths(Regime.BULL, breakout=1.0)
    df["regime"] = None
    assert add_entries(df, P)["enter_long"].iat[0] == 0


def test_crash_blocks_entries_even_at_full_conviction() -> None:
    df = strong_breakout()
    df["regime"] = Regime.CRASH.value
    out = add_entries(df, P.with_changes(conviction_threshold=0.0))
    assert out["enter_long"].sum() == 0


def test_eligibility_column_gates_entries() -> None:
    df = strong_breakout()
    df["regime"] = Regime.BULL.value
    df["eligible"] = True
    assert add_entries(df, P)["enter_long"].iat[-1] == 1
    df["eligible"] = False
    assert add_entries(df, P)["enter_long"].iat[-1] == 0


def test_threshold_boundary_is_inclusive() -> None:
    df = strong_breakout()
    df["regime"] = Regime.BULL.value
    conviction = float(add_entries(df, P)["conviction"].iat[-1])
    assert add_entries(df, P.with_changes(conviction_threshold=conviction))["enter_long"].iat[-1]
    above = P.with_changes(conviction_threshold=min(1.0, conviction + 1e-9))
    assert not add_entries(df, above)["enter_long"].iat[-1]


# --------------------------------------------------------------------------- regime


def btc(week_return: float, n: int = 400, wiggle: float = 0.0) -> pd.Series:
    """Flat, then a week (168 h) moving by ``week_return``, with optional +/- wiggle."""
    week = 100 * (1 + week_return) ** (np.arange(1, 169) / 168)
    noise = np.where(np.arange(168) % 2 == 0, 1 + wiggle, 1 - wiggle) if wiggle else np.ones(168)
    noise[-1] = 1.0  # the last close is the plain trend, so the week's return is week_return
    return pd.Series(np.concatenate([np.full(n - 168, 100.0), week * noise]))


@pytest.mark.parametrize("week_return, wiggle, label", [
    (0.00, 0.0, Regime.CHOP),
    (0.03, 0.0, Regime.CHOP),
    (0.08, 0.0, Regime.BULL),
    (-0.08, 0.0, Regime.BEAR),
    (-0.20, 0.0, Regime.CRASH),
    (-0.08, 0.04, Regime.CRASH),   # a bear week in a violent market (vol >> 90 %) is a crash
    (0.08, 0.04, Regime.BULL),     # volatility alone does not make a crash
])
def test_regime_labels(week_return: float, wiggle: float, label: Regime) -> None:
    assert regime(btc(week_return, wiggle=wiggle), P).iat[-1] == label


def test_regime_is_unknown_while_warming_up_and_keeps_the_index() -> None:
    close = btc(0.1)
    close.index = pd.RangeIndex(1000, 1000 + len(close))
    labels = regime(close, P)
    assert labels.index.equals(close.index)
    assert (labels.iloc[:168] == Regime.UNKNOWN).all()
    assert labels.iloc[168] != Regime.UNKNOWN


def test_regime_has_no_look_ahead() -> None:
    close = random_walk(700, seed=9)["close"]
    pd.testing.assert_series_equal(regime(close, P).iloc[:300], regime(close.iloc[:300], P))


def test_a_crash_stays_a_crash_for_a_week_then_recovers() -> None:
    close = pd.Series(np.concatenate([np.full(200, 100.0), np.linspace(100, 70, 48),
                                      np.full(400, 70.0)]))
    labels = regime(close, P)
    assert labels.iat[247] == Regime.CRASH
    assert labels.iat[200 + 48 + 100] == Regime.CRASH
    assert labels.iat[-1] == Regime.CHOP


# --------------------------------------------------------------------------- timeframes


@pytest.mark.parametrize("timeframe, per_hour, day", [
    ("1m", 60.0, 1440), ("5m", 12.0, 288), ("15m", 4.0, 96), ("1h", 1.0, 24), ("4h", 0.25, 6),
    ("1d", 1 / 24, 1)])
def test_hours_convert_per_timeframe(timeframe: str, per_hour: float, day: int) -> None:
    params = SignalParams.for_timeframe(timeframe)
    assert params.candles_per_hour == pytest.approx(per_hour)
    assert params.candles(24) == day
    assert params.candles(0.5) >= 1


@pytest.mark.parametrize("timeframe", ["7m", "1w", "1H", "", "60"])
def test_unknown_timeframe_is_a_clear_error(timeframe: str) -> None:
    with pytest.raises(ValueError, match=r"unsupported timeframe .* expected one of 1m, 3m, 5m"):
        candles_per_hour(timeframe)
    with pytest.raises(ValueError, match="unsupported timeframe"):
        SignalParams.for_timeframe(timeframe)


def test_same_move_same_strength_at_5m_and_1h() -> None:
    hourly = flat(100) + [100 * (1 + 0.04 * k / 4) for k in range(1, 5)]
    five = np.interp(np.arange(len(hourly) * 12) / 12, np.arange(len(hourly)), hourly)
    one_h = last(add_indicators(frame(hourly), P), "price_move")
    p5 = SignalParams.for_timeframe("5m")
    five_m = last(add_indicators(frame(five[: -11], freq="5min"), p5), "price_move")
    assert five_m == pytest.approx(one_h, abs=1e-9)


def test_warmup_grows_with_candles_per_hour() -> None:
    assert SignalParams.for_timeframe("5m").warmup_candles(include_regime=False) == 12 * 72
    assert P.warmup_candles(include_regime=False) == 72
    assert P.warmup_candles() == P.regime_warmup_candles() == 169


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("changes, message", [
    ({"conviction_threshold": 1.5}, "conviction_threshold must be >= 0 and <= 1"),
    ({"conviction_threshold": -0.1}, "conviction_threshold must be >= 0 and <= 1"),
    ({"weight_breakout": -1.0}, "weight_breakout must be >= 0"),
    ({f"weight_{n}": 0.0 for n in TRIGGERS}, "at least one trigger weight must be > 0"),
    ({"candles_per_hour": 0.0}, "candles_per_hour must be > 0"),
    ({"breakout_hours": 0.0}, "breakout_hours must be > 0"),
    ({"regime_hours": -168.0}, "regime_hours must be > 0"),
    ({"price_move_min_pct": 6.0}, "price_move_min_pct must be < price_move_full_pct"),
    ({"rsi_oversold": 80.0}, "rsi_oversold must be < rsi_overbought"),
    ({"rsi_overbought": 120.0}, "must lie in"),
    ({"ma_fast_hours": 48.0}, "ma_fast_hours must be < ma_slow_hours"),
    ({"crash_return_pct": -4.0}, "crash_return_pct must be < bear_return_pct"),
    ({"bear_threshold_add": -0.1}, "bear_threshold_add must be >= 0"),
    ({"crash_volatility": 0.0}, "crash_volatility must be > 0"),
    ({"weight_momentum": math.nan}, "weight_momentum must be finite"),
    ({"conviction_threshold": True}, "conviction_threshold must be a number"),
    ({"breakout_hours": "48"}, "breakout_hours must be a number"),
])
def test_bad_parameters_raise_a_clear_error(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SignalParams(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("threshold", [0.0, 0.3, 1.0])
def test_threshold_limits_are_accepted(threshold: float) -> None:
    assert SignalParams(conviction_threshold=threshold).conviction_threshold == threshold


def test_ints_are_accepted_and_stored_as_floats() -> None:
    params = SignalParams(weight_breakout=2, breakout_hours=48)
    assert isinstance(params.weight_breakout, float) and params.breakout_hours == 48.0


def test_params_are_frozen() -> None:
    with pytest.raises(AttributeError):
        P.conviction_threshold = 0.5  # type: ignore[misc]


# --------------------------------------------------------------------------- exits


def test_exit_rules_cover_every_trigger_with_the_documented_values() -> None:
    assert set(EXIT_RULES) == set(TRIGGERS)
    assert EXIT_RULES["price_move"] == ExitRule(0.06, 0.12, 48)
    assert EXIT_RULES["breakout"] == ExitRule(0.06, 0.20, 120)
    # Every per-trigger stop sits above the strategy's 10 % hard floor.
    assert max(rule.stop_loss for rule in EXIT_RULES.values()) < 0.10


@pytest.mark.parametrize("tag, expected", [
    ("breakout", EXIT_RULES["breakout"]), (None, DEFAULT_EXIT), ("", DEFAULT_EXIT),
    ("manual_force_entry", DEFAULT_EXIT)])
def test_exit_rule_lookup(tag: str | None, expected: ExitRule) -> None:
    assert exit_rule(tag) == expected


@pytest.mark.parametrize("kwargs, message", [
    ({"stop_loss": 0.0, "take_profit": 0.1, "max_hold_hours": 1}, "stop_loss"),
    ({"stop_loss": 1.0, "take_profit": 0.1, "max_hold_hours": 1}, "stop_loss"),
    ({"stop_loss": 0.05, "take_profit": 0.0, "max_hold_hours": 1}, "take_profit"),
    ({"stop_loss": 0.05, "take_profit": 0.1, "max_hold_hours": 0}, "max_hold_hours"),
])
def test_exit_rule_validation(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExitRule(**kwargs)


def test_talib_windows_at_their_edges() -> None:
    from trader247.core.signals import _roc_pct, _rolling_max, _rolling_min

    x = pd.Series([1.0, 3.0, 2.0])
    assert _rolling_max(x, 1).tolist() == [1.0, 3.0, 2.0]  # TA-Lib's MAX refuses a 1-candle window
    assert _rolling_min(x, 1).tolist() == [1.0, 3.0, 2.0]
    full = _rolling_max(x, 3)
    assert full.iloc[:2].isna().all() and full.iat[2] == 3.0  # exactly one full window
    assert _rolling_min(x, 3).iat[2] == 1.0
    assert _rolling_max(x, 4).isna().all()  # window longer than the data: nothing, no error
    assert _roc_pct(x, 2).iat[2] == pytest.approx(100.0)
    assert _roc_pct(x, 3).isna().all()
