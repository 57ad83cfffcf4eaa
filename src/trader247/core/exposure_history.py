"""Rebuild at-risk exposure candle by candle from a backtest's fills (the exposure report).

The same :func:`~trader247.core.exposure.measure` and
:func:`~trader247.core.exposure.next_state` as the live bot judge every candle, so the report
shows what the entry gate and the trimmer saw, not a second definition of exposure.

Cash moves with every fill (buys pay ``amount x price x (1 + fee)``, sells receive
``amount x price x (1 - fee)``); positions are marked at each candle's close. Backtest fills are
instantaneous, so there is never a resting entry order to count.

Thrash: a REDUCING episode that starts within ``2 x trim_interval_cycles`` candles after the
previous one ended (the same window as the live trim state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from trader247.core.exposure import CapPolicy, CapState, Position, Snapshot, measure, next_state


@dataclass(frozen=True, slots=True)
class Fill:
    pair: str
    time_ms: int
    side: Literal["buy", "sell"]
    amount: float
    price: float
    fee_rate: float
    tag: str = ""


@dataclass(frozen=True)
class ExposureHistory:
    times_ms: NDArray[np.int64]
    at_risk: NDArray[np.float64]
    equity: NDArray[np.float64]
    at_risk_pct: NDArray[np.float64]
    reducing: NDArray[np.bool_]
    trims_at: NDArray[np.int64]  # number of trim fills per candle
    cap_pct: float
    target_pct: float
    reducing_episodes: int
    thrash_episodes: int

    @property
    def max_at_risk_pct(self) -> float:
        return float(self.at_risk_pct.max()) if len(self.at_risk_pct) else 0.0

    @property
    def candles_above_cap(self) -> int:
        return int((self.at_risk_pct > self.cap_pct + 1e-9).sum())

    @property
    def trims(self) -> int:
        return int(self.trims_at.sum())


def exposure_history(
    fills: Sequence[Fill],
    closes: Mapping[str, tuple[NDArray[np.int64], NDArray[np.float64]]],
    times_ms: NDArray[np.int64],
    starting_balance: float,
    policy: CapPolicy,
    *,
    trim_tag: str = "trim",
) -> ExposureHistory:
    """``closes[pair] = (candle open times in ms, close prices)``; ``times_ms`` the report grid.

    A fill at time t counts from the candle starting at t on (backtests fill at candle open).
    """
    n = len(times_ms)
    pairs = sorted({fill.pair for fill in fills})
    marks = np.full((len(pairs), n), np.nan)
    for row, pair in enumerate(pairs):
        stamps, prices = closes.get(pair, (np.array([], np.int64), np.array([], float)))
        if len(stamps):
            index = np.searchsorted(stamps, times_ms, side="right") - 1
            valid = index >= 0
            marks[row, valid] = prices[index[valid]]
    holdings = np.zeros((len(pairs), n))
    cash_flow = np.zeros(n)
    trims_at = np.zeros(n, dtype=np.int64)
    row_of = {pair: row for row, pair in enumerate(pairs)}
    for fill in fills:
        at = int(np.searchsorted(times_ms, fill.time_ms, side="left"))
        if at >= n:
            continue
        signed = fill.amount if fill.side == "buy" else -fill.amount
        holdings[row_of[fill.pair], at] += signed
        notional = fill.amount * fill.price
        cash_flow[at] += -notional * (1 + fill.fee_rate) if fill.side == "buy" else \
            notional * (1 - fill.fee_rate)
        if fill.side == "sell" and fill.tag == trim_tag:
            trims_at[at] += 1
    holdings = np.cumsum(holdings, axis=1)
    cash = starting_balance + np.cumsum(cash_flow)
    # A pair with no candle yet at a time is marked at its first fill price (rare edge of data).
    first_price = {fill.pair: fill.price for fill in reversed(fills)}
    for row, pair in enumerate(pairs):
        marks[row] = np.where(np.isnan(marks[row]), first_price[pair], marks[row])

    at_risk = np.zeros(n)
    equity = np.zeros(n)
    pct = np.zeros(n)
    reducing = np.zeros(n, dtype=bool)
    state = CapState.ACTIVE
    episodes = thrash = 0
    last_exit: int | None = None
    window = 2 * policy.trim_interval_cycles
    for i in range(n):
        positions = tuple(
            Position(pairs[row], max(holdings[row, i], 0.0), float(marks[row, i]))
            for row in range(len(pairs)) if holdings[row, i] > 1e-12
        )
        exposure = measure(Snapshot(stake_balance=float(cash[i]), positions=positions), policy)
        new = next_state(state, exposure, policy)
        if new is CapState.REDUCING and state is CapState.ACTIVE:
            episodes += 1
            if last_exit is not None and i - last_exit <= window:
                thrash += 1
        if new is CapState.ACTIVE and state is CapState.REDUCING:
            last_exit = i
        state = new
        at_risk[i], equity[i], pct[i] = exposure.at_risk, exposure.equity, exposure.at_risk_pct
        reducing[i] = state is CapState.REDUCING
    return ExposureHistory(
        times_ms=np.asarray(times_ms, dtype=np.int64), at_risk=at_risk, equity=equity,
        at_risk_pct=pct, reducing=reducing, trims_at=trims_at,
        cap_pct=policy.max_total_at_risk_pct, target_pct=policy.target_pct,
        reducing_episodes=episodes, thrash_episodes=thrash,
    )
