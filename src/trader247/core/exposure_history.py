"""Rebuild at-risk exposure candle by candle from a backtest's fills (the exposure report).

The same :func:`~trader247.core.exposure.measure` and
:func:`~trader247.core.exposure.next_state` as the live bot judge every candle, and the same
marks (:func:`~trader247.core.marks.marks_at`, the close of the newest candle closed at t), so
the report shows what the entry gate and the trimmer saw, not a second definition of exposure.

The report's times are the bot's evaluations: freqtrade calls ``bot_loop_start`` at each candle's
open, before any order of that candle. At ``times[i]`` the report holds the fills made before
it; ``trims_at[i]`` counts the trim fills of candle i (``times[i] <= fill < times[i + 1]``),
which the bot decided at ``times[i]``.

Cash is freqtrade's backtest wallet: a buy pays ``amount x price``; its entry fee is charged when
that amount is sold, with the exit fee (a sell receives ``amount x price x (1 - fee_close) -
amount x average entry price x fee_open``). That is how freqtrade's stake balance moves
(``Wallets`` subtracts open trades' stake and adds realised profit), so the report's equity is
the equity the bot measured. Backtest fills are instantaneous, so there is never a resting entry
order to count.

A mark from an older candle (a gap, a delisted pair) or from no candle at all (the first fill
price is used) is counted in ``stale_marks`` per held position and candle.

Per-cluster and per-asset caps (``policy.cluster_limits``): ``cluster_pct[key]`` is the at-risk % of
each capped cluster at each time (``cluster=MEME``, ``asset=DOGE``: every capped cluster, and
every asset held at some time when assets are capped), measured by
:func:`~trader247.core.clusters.measure_clusters` as the bot measured it; ``cluster_caps[key]``
its cap. Empty when no cluster limit is set.

Thrash: a REDUCING episode that starts within ``2 x trim_interval_cycles`` candles after the
previous one ended (the same window as the live trim state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from trader247.core.clusters import measure_clusters
from trader247.core.exposure import CapPolicy, CapState, Position, Snapshot, measure, next_state
from trader247.core.marks import CloseSeries, marks_at


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
    stale_marks: int = 0
    stale_pairs: tuple[str, ...] = ()
    cluster_pct: Mapping[str, NDArray[np.float64]] = field(default_factory=dict)
    cluster_caps: Mapping[str, float] = field(default_factory=dict)

    def cluster_candles_above_cap(self, key: str) -> int:
        return int((self.cluster_pct[key] > self.cluster_caps[key] + 1e-9).sum())

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
    closes: Mapping[str, CloseSeries],
    times_ms: NDArray[np.int64],
    starting_balance: float,
    policy: CapPolicy,
    *,
    trim_tag: str = "trim",
) -> ExposureHistory:
    """``closes[pair]``: the pair's candles; ``times_ms``: the bot's evaluation times (module doc).
    """
    times = np.asarray(times_ms, dtype=np.int64)
    pairs = sorted({fill.pair for fill in fills})
    holdings, cash, trims_at = _replay_fills(fills, pairs, times, starting_balance, trim_tag)
    marks, stale = _marks(fills, pairs, closes, times)
    held = holdings > 1e-12
    stale_held = stale & held
    at_risk, equity, pct, reducing, episodes, thrash = _judge(
        pairs, holdings, marks, cash, policy)
    cluster_pct, cluster_caps = _clusters(pairs, holdings, marks, cash, policy)
    return ExposureHistory(
        times_ms=times, at_risk=at_risk, equity=equity,
        at_risk_pct=pct, reducing=reducing, trims_at=trims_at,
        cap_pct=policy.max_total_at_risk_pct, target_pct=policy.target_pct,
        reducing_episodes=episodes, thrash_episodes=thrash,
        stale_marks=int(stale_held.sum()),
        stale_pairs=tuple(p for row, p in enumerate(pairs) if stale_held[row].any()),
        cluster_pct=cluster_pct, cluster_caps=cluster_caps,
    )


def _replay_fills(
    fills: Sequence[Fill], pairs: list[str], times: NDArray[np.int64], starting_balance: float,
    trim_tag: str,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Holdings per pair and cash at each time (fills strictly before it), trims per candle."""
    n = len(times)
    row_of = {pair: row for row, pair in enumerate(pairs)}
    holdings = np.zeros((len(pairs), n))
    cash_flow = np.zeros(n)
    trims_at = np.zeros(n, dtype=np.int64)
    units: dict[str, float] = dict.fromkeys(pairs, 0.0)
    entry_fees: dict[str, float] = dict.fromkeys(pairs, 0.0)  # charged when sold
    for fill in sorted(fills, key=lambda f: f.time_ms):
        seen_from = int(np.searchsorted(times, fill.time_ms, side="right"))
        notional = fill.amount * fill.price
        if fill.side == "buy":
            delta = -notional
            units[fill.pair] += fill.amount
            entry_fees[fill.pair] += notional * fill.fee_rate
        else:
            share = min(fill.amount / units[fill.pair], 1.0) if units[fill.pair] > 0 else 1.0
            released = entry_fees[fill.pair] * share
            entry_fees[fill.pair] -= released
            units[fill.pair] = max(units[fill.pair] - fill.amount, 0.0)
            delta = notional * (1 - fill.fee_rate) - released
            if fill.tag == trim_tag and seen_from > 0:
                trims_at[seen_from - 1] += 1
        if seen_from < n:
            holdings[row_of[fill.pair], seen_from] += (
                fill.amount if fill.side == "buy" else -fill.amount)
            cash_flow[seen_from] += delta
    return np.cumsum(holdings, axis=1), starting_balance + np.cumsum(cash_flow), trims_at


def _marks(
    fills: Sequence[Fill], pairs: list[str], closes: Mapping[str, CloseSeries],
    times: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    marks = np.zeros((len(pairs), len(times)))
    stale = np.zeros((len(pairs), len(times)), dtype=bool)
    # No candle closed yet: the first fill price (the bot uses the trade's open rate).
    first_price = {fill.pair: fill.price for fill in reversed(fills)}
    for row, pair in enumerate(pairs):
        series = closes.get(pair)
        if series is None or not len(series):
            marks[row] = first_price[pair]
            stale[row] = True
            continue
        found = marks_at(series, times)
        marks[row] = np.where(np.isnan(found.prices), first_price[pair], found.prices)
        stale[row] = found.stale
    return marks, stale


def _snapshot(pairs: list[str], holdings: NDArray[np.float64], marks: NDArray[np.float64],
              cash: NDArray[np.float64], i: int) -> Snapshot:
    positions = tuple(
        Position(pairs[row], max(holdings[row, i], 0.0), float(marks[row, i]))
        for row in range(len(pairs)) if holdings[row, i] > 1e-12
    )
    return Snapshot(stake_balance=float(cash[i]), positions=positions)


def _clusters(
    pairs: list[str], holdings: NDArray[np.float64], marks: NDArray[np.float64],
    cash: NDArray[np.float64], policy: CapPolicy,
) -> tuple[dict[str, NDArray[np.float64]], dict[str, float]]:
    """At-risk % of every capped cluster at every time (module doc)."""
    if not policy.cluster_limits.enabled:
        return {}, {}
    n = len(cash)
    pct: dict[str, NDArray[np.float64]] = {}
    caps: dict[str, float] = {}
    for i in range(n):
        for cluster in measure_clusters(_snapshot(pairs, holdings, marks, cash, i), policy).all:
            if cluster.key not in pct:
                pct[cluster.key], caps[cluster.key] = np.zeros(n), cluster.cap_pct
            pct[cluster.key][i] = cluster.at_risk_pct
    return dict(sorted(pct.items())), dict(sorted(caps.items()))


def _judge(
    pairs: list[str], holdings: NDArray[np.float64], marks: NDArray[np.float64],
    cash: NDArray[np.float64], policy: CapPolicy,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_],
           int, int]:
    """The bot's measure and state machine at every time."""
    n = len(cash)
    at_risk, equity, pct = np.zeros(n), np.zeros(n), np.zeros(n)
    reducing = np.zeros(n, dtype=bool)
    state = CapState.ACTIVE
    episodes = thrash = 0
    last_exit: int | None = None
    window = 2 * policy.trim_interval_cycles
    for i in range(n):
        exposure = measure(_snapshot(pairs, holdings, marks, cash, i), policy)
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
    return at_risk, equity, pct, reducing, episodes, thrash
