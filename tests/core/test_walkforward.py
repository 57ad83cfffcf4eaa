"""Walk-forward bookkeeping (issue 13 item 1): windows, metrics, chaining, parameter choice."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from trader247.core.walkforward import (
    CandidateScore,
    PerformanceMetrics,
    chain,
    choose_params,
    daily_equity,
    goals,
    metrics,
    rank_candidates,
    score_candidate,
    windows,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def days(values: list[float], start: str = "2024-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="1D", tz="UTC"))


def test_test_windows_tile_the_range_and_follow_their_train_window() -> None:
    end = datetime(2024, 12, 31, tzinfo=UTC)
    plan = windows(T0, end, 120, 60)
    assert [w.train_range for w in plan[:2]] == ["20240101-20240430", "20240301-20240629"]
    assert [w.test_range for w in plan[:2]] == ["20240430-20240629", "20240629-20240828"]
    for before, after in zip(plan, plan[1:], strict=False):
        assert before.test_end == after.test_start  # no gap, no overlap
    assert (end - plan[-1].test_end).days * 2 < 60  # what is left is under half a window


@pytest.mark.parametrize("end_day, count", [(29, 1), (30, 2)])
def test_last_window_kept_only_with_half_a_test_period(end_day: int, count: int) -> None:
    # 120 + 60 days end on 2024-06-29; a second test window needs 30 more days.
    end = datetime(2024, 6, 29, tzinfo=UTC) + pd.Timedelta(days=end_day)
    assert len(windows(T0, end, 120, 60)) == count


def test_too_short_a_range_names_the_options() -> None:
    with pytest.raises(ValueError, match="--train-days / --test-days"):
        windows(T0, datetime(2024, 3, 1, tzinfo=UTC), 120, 60)


def test_metrics_of_a_known_curve() -> None:
    m = metrics(days([110.0, 99.0, 121.0]), start_value=100.0)
    assert m.profit_pct == pytest.approx(21.0)
    assert m.max_dd_pct == pytest.approx(10.0)  # 110 -> 99
    returns = np.array([0.1, -0.1, 121 / 99 - 1])
    assert m.sharpe == pytest.approx(returns.mean() / returns.std(ddof=1) * math.sqrt(365))
    assert m.days == 3


def test_flat_curve_has_zero_sharpe_not_nan() -> None:
    m = metrics(days([100.0, 100.0, 100.0]), start_value=100.0)
    assert (m.profit_pct, m.sharpe, m.sortino, m.max_dd_pct) == (0.0, 0.0, 0.0, 0.0)


def test_daily_equity_takes_the_last_value_of_each_day() -> None:
    hourly = pd.Series([1.0, 2.0, 3.0], index=pd.to_datetime(
        ["2024-01-01 01:00", "2024-01-01 23:00", "2024-01-02 05:00"], utc=True))
    assert list(daily_equity(hourly)) == [2.0, 3.0]


def test_chain_compounds_the_windows() -> None:
    overall = chain([(days([110.0]), 100.0), (days([500.0], "2024-01-02"), 1000.0)])
    assert overall.profit_pct == pytest.approx((1.1 * 0.5 - 1) * 100)
    assert overall.max_dd_pct == pytest.approx(50.0)


def test_choose_params_median_of_numbers_mode_of_choices() -> None:
    chosen = choose_params([
        {"buy": {"band": 1.5, "ma": 600, "confirm": False}, "stoploss": {"stoploss": -0.1}},
        {"buy": {"band": 4.7, "ma": 300, "confirm": True}, "stoploss": {"stoploss": -0.2}},
        {"buy": {"band": 3.1, "ma": 600, "confirm": True}, "stoploss": {"stoploss": -0.16}},
    ])
    assert chosen == {"buy": {"band": 3.1, "ma": 600, "confirm": True},
                      "stoploss": {"stoploss": -0.16}}


def test_choose_params_tie_goes_to_the_latest_window() -> None:
    chosen = choose_params([{"buy": {"ma": 600}}, {"buy": {"ma": 300}}])
    assert chosen == {"buy": {"ma": 300}}


def m(profit: float, sharpe: float, dd: float) -> PerformanceMetrics:
    return PerformanceMetrics(profit, sharpe, 0.0, dd, 100)


@pytest.mark.parametrize("ours, hold, met", [
    # buy-and-hold up: our return must be positive (0 misses)
    (m(0.01, 1.0, 5.0), m(10.0, 0.9, 30.0), [True, True, True, True]),
    (m(0.0, 1.0, 5.0), m(10.0, 0.9, 30.0), [True, True, True, False]),
    # buy-and-hold down: at least -2 % (exactly -2 meets, -2.01 misses)
    (m(-2.0, 1.0, 5.0), m(-30.0, -1.0, 50.0), [True, True, True, True]),
    (m(-2.01, 1.0, 5.0), m(-30.0, -1.0, 50.0), [True, True, True, False]),
    # Sharpe equal to buy-and-hold's misses; drawdown equal to the smaller one misses
    (m(1.0, 0.9, 20.0), m(10.0, 0.9, 20.0), [False, True, False, True]),
])
def test_goals_at_their_edges(
    ours: PerformanceMetrics, hold: PerformanceMetrics, met: list[bool]
) -> None:
    sample = m(-20.0, -3.0, 25.0)
    assert list(goals(ours, sample, hold).values()) == met


def test_goals_name_the_return_rule_that_applies() -> None:
    sample = m(-20.0, -3.0, 25.0)
    assert "return > 0" in goals(m(1, 1, 1), sample, m(5, 1, 9))
    assert "return >= -2 %" in goals(m(1, 1, 1), sample, m(-5, 1, 9))


def _score(name: str, goals: int, edge: float = 0.0, profit: float = 0.0) -> CandidateScore:
    return CandidateScore(name, goals, edge, profit)


@pytest.mark.parametrize("scores, winner", [
    ([_score("combo", 10), _score("other", 11)], "other"),  # one goal more wins
    ([_score("combo", 11, -0.5), _score("other", 11, -0.49)], "other"),  # tie: edge
    ([_score("combo", 11, -0.5, 3.0), _score("other", 11, -0.5, 3.01)], "other"),  # then return
    ([_score("combo", 11, -0.5, 3.0), _score("other", 11, -0.5, 3.0)], "combo"),  # then order
    ([_score("other", 12, -9.0), _score("combo", 11, 5.0)], "other"),  # goals before edge
])
def test_selection_rule_of_the_candidates(scores: list[CandidateScore], winner: str) -> None:
    assert rank_candidates(scores)[0].name == winner


def test_a_candidate_is_scored_over_its_walk_forward_sets() -> None:
    sample = m(-20.0, -3.0, 25.0)
    usd = (m(4.6, 1.43, 2.8), sample, m(24.0, 0.74, 53.0))  # 4 goals
    btc = (m(-0.4, -1.33, 0.6), sample, m(-34.0, -0.73, 52.0))  # Sharpe vs hold missed: 3
    score = score_candidate("vol", {"usd": usd, "btc": btc})
    assert score == CandidateScore("vol", 7, pytest.approx(-1.33 + 0.73), pytest.approx(4.2))
    # one cent under the loss floor costs that set's return goal
    assert score_candidate("x", {"btc": (m(-2.01, -1.33, 0.6), sample, btc[2])}).goals_met == 2
    with pytest.raises(ValueError, match="'x': no data set"):
        score_candidate("x", {})
