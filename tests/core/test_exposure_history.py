"""Exposure rebuilt from fills: same measure() as the bot, thrash counted like the trim state."""

from __future__ import annotations

import numpy as np
import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.exposure_history import Fill, exposure_history

HOUR = 3_600_000
TIMES = np.arange(0, 10 * HOUR, HOUR, dtype=np.int64)


def closes(prices: list[float]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"BTC/USD": (TIMES[: len(prices)], np.asarray(prices, dtype=float))}


def buy(at: int, amount: float, price: float, tag: str = "") -> Fill:
    return Fill("BTC/USD", at * HOUR, "buy", amount, price, 0.0, tag)


def sell(at: int, amount: float, price: float, tag: str = "trim") -> Fill:
    return Fill("BTC/USD", at * HOUR, "sell", amount, price, 0.0, tag)


def test_at_the_cap_is_not_reducing_one_cent_over_is() -> None:
    at_cap = exposure_history([buy(0, 2.5, 100.0)], closes([100.0] * 10), TIMES, 1000.0,
                              shipped_cap_policy())
    assert at_cap.max_at_risk_pct == pytest.approx(25.0)
    assert at_cap.candles_above_cap == 0 and at_cap.reducing_episodes == 0
    over = exposure_history([buy(0, 2.5, 100.0)], closes([100.0] * 9 + [100.0001]), TIMES,
                            1000.0, shipped_cap_policy())
    assert over.reducing_episodes == 1 and bool(over.reducing[-1])


def test_fees_leave_cash_and_trims_are_counted() -> None:
    fills = [Fill("BTC/USD", 0, "buy", 3.0, 100.0, 0.01), sell(1, 0.5, 100.0)]
    history = exposure_history(fills, closes([100.0] * 10), TIMES, 1000.0, shipped_cap_policy())
    assert history.equity[0] == pytest.approx(1000.0 - 3.0)       # 1 % fee on $300
    assert history.at_risk[1] == pytest.approx(250.0)
    assert history.trims == 1 and history.trims_at[1] == 1


@pytest.mark.parametrize(("gap", "thrash"), [(6, 1), (7, 0)])
def test_thrash_is_a_new_episode_within_two_intervals(gap: int, thrash: int) -> None:
    # Over the cap at 0, back under target at 1, over again `gap` candles later.
    prices = [100.0] * 10
    prices[0] = 130.0
    prices[1 + gap] = 130.0
    times = np.arange(0, 10 * HOUR, HOUR, dtype=np.int64)
    # 1.8 units: 22.5 % at $100 (under target), 27.4 % at $130 (over the cap).
    history = exposure_history([buy(0, 1.8, 100.0)], closes(prices), times, 800.0, shipped_cap_policy())
    assert history.reducing_episodes == 2
    assert history.thrash_episodes == thrash
