"""Walk-forward bookkeeping: rolling windows, equity-curve metrics, the overall chain and the
parameter choice. Pure (pandas/numpy); ``trader247 walk-forward`` runs freqtrade around it.

Decisions:
- Windows: train ``train_days`` then test the following ``test_days``; the next window moves by
  ``test_days``, so the test windows tile the range without overlap and every out-of-sample
  day is scored once. A last test window shorter than half ``test_days`` is dropped.
- Metrics come from the daily mark-to-market equity (the last value of each UTC day), the
  same way for the strategies and for buy-and-hold: return, Sharpe and Sortino of daily returns
  annualised with sqrt(365) (crypto trades every day), max drawdown of the equity.
- Overall: the test windows' daily returns chained, as if the strategy had been re-tuned at
  each window start and had carried its wallet on.
- Parameter choice: per parameter the median of the windows' numbers (rounded as the window
  values were) or the most frequent value for categories; ties go to the latest window.
- Goals, per data set on the chained out-of-sample metrics: Sharpe above
  buy-and-hold's and SampleStrategy's; max drawdown below both; return after fees positive
  where buy-and-hold's is positive, at least ``-2 %`` where it loses (capital preservation).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["CandidateScore", "PerformanceMetrics", "Window", "chain", "choose_params",
           "daily_equity", "goals", "metrics", "rank_candidates", "score_candidate", "windows"]

_DAYS_PER_YEAR = 365.0
LOSS_FLOOR_PCT = -2.0
"""Lowest acceptable return (after fees) where buy-and-hold loses: standing mostly aside."""


@dataclass(frozen=True)
class Window:
    index: int
    train_start: datetime
    test_start: datetime  # = train end
    test_end: datetime

    @staticmethod
    def _fmt(day: datetime) -> str:
        return day.strftime("%Y%m%d")

    @property
    def train_range(self) -> str:
        return f"{self._fmt(self.train_start)}-{self._fmt(self.test_start)}"

    @property
    def test_range(self) -> str:
        return f"{self._fmt(self.test_start)}-{self._fmt(self.test_end)}"


def windows(start: datetime, end: datetime, train_days: int, test_days: int) -> list[Window]:
    """Rolling train/test windows over ``[start, end)``; ``ValueError`` if none fits."""
    if train_days <= 0 or test_days <= 0:
        raise ValueError(f"train and test days must be > 0 (got {train_days}, {test_days})")
    out: list[Window] = []
    train_start = start
    # Windows start test_days apart: by this many steps one starts past ``end`` and ends the loop.
    steps = max(0, math.ceil((end - start) / timedelta(days=test_days))) + 1
    for _ in range(steps):
        test_start = train_start + timedelta(days=train_days)
        test_end = min(test_start + timedelta(days=test_days), end)
        if (test_end - test_start).days * 2 < test_days:
            break
        out.append(Window(len(out) + 1, train_start, test_start, test_end))
        train_start += timedelta(days=test_days)
    else:
        raise RuntimeError(f"walk-forward windows did not end after {steps} steps "
                           f"({start} .. {end}, {train_days} + {test_days} days): {out[-1]}")
    if not out:
        raise ValueError(
            f"no walk-forward window fits {start:%Y-%m-%d} .. {end:%Y-%m-%d}: need at least "
            f"{train_days} + {math.ceil(test_days / 2)} days (--train-days / --test-days)")
    return out


@dataclass(frozen=True)
class PerformanceMetrics:
    """How an equity curve did (profit, Sharpe, Sortino, drawdown). Not the Prometheus metrics
    of a running bot, which are :class:`trader247.metrics.exporter.Metrics`."""

    profit_pct: float
    sharpe: float
    sortino: float
    max_dd_pct: float
    days: int

    def row(self) -> dict[str, float | int]:
        return {"profit %": round(self.profit_pct, 2), "Sharpe": round(self.sharpe, 2),
                "Sortino": round(self.sortino, 2), "max DD %": round(self.max_dd_pct, 2),
                "days": self.days}


def daily_equity(equity: pd.Series) -> pd.Series:
    """Last equity value of each UTC day (``equity`` indexed by tz-aware timestamps)."""
    return equity.sort_index().resample("1D").last().dropna()


def metrics(daily: pd.Series, start_value: float | None = None) -> PerformanceMetrics:
    """Performance of a daily equity curve; ``start_value`` (before the first day) defaults to the
    first value."""
    values = daily.to_numpy(dtype="float64")
    if start_value is not None:
        values = np.concatenate([[start_value], values])
    if values.size < 2 or not values[0] > 0:
        return PerformanceMetrics(0.0, 0.0, 0.0, 0.0, max(0, values.size - 1))
    returns = values[1:] / values[:-1] - 1.0
    return _from_returns(returns, values)


def _from_returns(returns: np.ndarray, values: np.ndarray) -> PerformanceMetrics:
    scale = math.sqrt(_DAYS_PER_YEAR)
    std = returns.std(ddof=1) if returns.size > 1 else 0.0
    sharpe = float(returns.mean() / std * scale) if std > 0 else 0.0
    downside = returns[returns < 0]
    down = math.sqrt(float((downside ** 2).sum()) / returns.size) if returns.size else 0.0
    sortino = float(returns.mean() / down * scale) if down > 0 else 0.0
    peaks = np.maximum.accumulate(values)
    max_dd = float(((peaks - values) / peaks).max() * 100.0)
    profit = float((values[-1] / values[0] - 1.0) * 100.0)
    return PerformanceMetrics(profit, sharpe, sortino, max_dd, int(returns.size))


def chain(curves: Sequence[tuple[pd.Series, float]]) -> PerformanceMetrics:
    """Overall metrics of consecutive test windows: (daily equity, start value) per window."""
    returns: list[np.ndarray] = []
    for daily, start in curves:
        values = np.concatenate([[start], daily.to_numpy(dtype="float64")])
        if values.size >= 2 and values[0] > 0:
            returns.append(values[1:] / values[:-1] - 1.0)
    if not returns:
        return PerformanceMetrics(0.0, 0.0, 0.0, 0.0, 0)
    joined = np.concatenate(returns)
    return _from_returns(joined, np.concatenate([[1.0], np.cumprod(1.0 + joined)]))


def choose_params(per_window: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str,
                                                                                          Any]]:
    """One parameter set from the windows' hyperopt results ({space: {name: value}} each)."""
    spaces: dict[str, dict[str, list[Any]]] = {}
    for params in per_window:
        for space, values in params.items():
            for name, value in values.items():
                spaces.setdefault(space, {}).setdefault(name, []).append(value)
    return {space: {name: _consensus(values) for name, values in names.items()}
            for space, names in spaces.items()}


def _consensus(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) == len(values) and not _categorical(values):
        median = float(np.median(numbers))
        decimals = max(_decimals(v) for v in numbers)
        return round(median, decimals) if decimals else int(round(median))
    counts = Counter(map(repr, values))
    best = max(counts.values())
    for value in reversed(values):  # ties: the most recent window
        if counts[repr(value)] == best:
            return value
    return values[-1]


def _categorical(values: list[Any]) -> bool:
    # Integers from a small set (e.g. trend lengths 300/450/600/800) are choices, not a scale.
    return all(isinstance(v, int) for v in values) and len(set(values)) <= len(values) // 2 + 1 \
        and all(v >= 100 for v in values)


def _decimals(value: float) -> int:
    text = repr(float(value))
    return 0 if isinstance(value, int) else len(text.partition(".")[2].rstrip("0"))


def goals(
    strategy: PerformanceMetrics, sample: PerformanceMetrics, hold: PerformanceMetrics
) -> dict[str, bool]:
    """The issue's goals for one data set: each name -> met. Ties miss (``above`` is strict)."""
    floor = 0.0 if hold.profit_pct > 0 else LOSS_FLOOR_PCT
    return {
        "Sharpe > buy & hold": strategy.sharpe > hold.sharpe,
        "Sharpe > SampleStrategy": strategy.sharpe > sample.sharpe,
        "max DD < both": strategy.max_dd_pct < min(hold.max_dd_pct, sample.max_dd_pct),
        ("return > 0" if floor == 0.0 else f"return >= {LOSS_FLOOR_PCT:g} %"):
            strategy.profit_pct > 0.0 if floor == 0.0 else strategy.profit_pct >= floor,
    }


@dataclass(frozen=True)
class CandidateScore:
    """One candidate of issue [S] over the compared data sets: goals met (summed over the sets),
    the minimum over the sets of (its Sharpe - buy-and-hold's), and its summed return %."""

    name: str
    goals_met: int
    min_sharpe_edge: float
    profit_sum: float


def score_candidate(name: str,
                    sets: Mapping[str, tuple[PerformanceMetrics, PerformanceMetrics,
                                             PerformanceMetrics]]) -> CandidateScore:
    """One candidate's score over ``sets``: data set -> (strategy, SampleStrategy, buy & hold)
    overall metrics; the goals met summed, the minimum Sharpe edge, the summed return."""
    if not sets:
        raise ValueError(f"candidate {name!r}: no data set to score")
    met = sum(sum(goals(*rows).values()) for rows in sets.values())
    edge = min(mine.sharpe - hold.sharpe for mine, _, hold in sets.values())
    return CandidateScore(name, met, edge, sum(mine.profit_pct for mine, _, _ in sets.values()))


def rank_candidates(scores: Sequence[CandidateScore]) -> list[CandidateScore]:
    """The README's selection rule (fixed before the rows), best first: the most goals met;
    tie: the higher minimum Sharpe edge over buy-and-hold; then the higher summed return; then
    the earlier in ``scores`` (the bench lists the shipped default first)."""
    order = {score.name: i for i, score in enumerate(scores)}
    return sorted(scores, key=lambda s: (-s.goals_met, -s.min_sharpe_edge, -s.profit_sum,
                                         order[s.name]))
