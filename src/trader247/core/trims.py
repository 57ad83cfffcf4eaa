"""Trim planning (pure): which positions to sell, how much and in which round, to get back
under the cap gradually without thrashing. What trims remember is ``trim_state``; placing and
settling orders are the adapters ``cap_trims`` and ``trim_settlement``.

The original trimmer ran every cycle, re-sold pairs whose previous sell was still open, and took
50-60 s. Here a trim decision is one pure call, O(n log n) in the number of positions, and the
state that makes it safe across cycles and restarts is an explicit, persistable value.

Rules (all driven by :func:`~trader247.core.exposure.measure` and
:func:`~trader247.core.exposure.next_state`, the same functions the entry gate uses):

- Trims run only in REDUCING and aim at the target, ``cap - band``.
- One round per ``trim_interval_cycles`` cycles, at most ``max_trims_per_cycle`` orders a round.
  A round that places nothing (everything blocked or untradeable) does not consume the interval.
- A pair with an open trim order gets no new trim; the stake of open trims is subtracted from what
  still has to be sold, so waiting fills are not sold twice through other pairs.
- ``proportional``: every tradeable position is cut by the same ratio ``excess / sum(values)``.
  When that needs more orders than a round allows, the biggest cuts go first and the pairs already
  cut in this REDUCING episode sit out later rounds, which then compute the very same ratio over
  the rest. If the rest can no longer cover the excess (prices rallied), every pair is eligible
  again. ``largest_first``: take the excess from the biggest position, then the next.
- Exchange minimums, per pair ``m``: a position worth less than ``m`` is dust and is skipped (no
  exchange accepts the order); one worth less than ``2m`` can only be exited fully (any partial
  sell, or what it leaves behind, is below ``m``); a cut smaller than ``m`` is clamped up to ``m``;
  a cut leaving less than ``m`` behind becomes a full exit (freqtrade refuses such a partial exit),
  and so does a cut of the whole position when ``m`` is 0 (the amount held is sold, not stake /
  mark, which float rounding can put above it).
- Overshoot: orders are added while the excess is not covered, and an order may pass the target by
  at most its pair's ``m``. The one exception: when nothing fits that bound (only positions worth
  ``m..2m`` remain, each bigger than the gap plus ``m``) the smallest such full exit is planned
  anyway, overshooting by less than ``2m``, because staying REDUCING forever would block entries
  forever.
- ``trims_enabled`` False: no orders, but the state machine still runs, so the gate still blocks.
- ``trim_on_start`` False: when the first evaluation after a (re)start finds the cap breached, that
  breach is left to the operator (inject capital or sell by hand): no trims until exposure is back
  at or under the target. A breach that starts later is trimmed normally.
- Cooldown: a trimmed pair is not re-entered for ``reentry_cooldown_cycles`` cycles.
- Open entry orders go first: while REDUCING every open entry order is to be cancelled
  (``TrimPlan.cancel_entries``; entries are refused in REDUCING anyway, and a cancel costs no
  fee nor spread). Their remaining stake leaves at_risk when cancelled, so it is subtracted from
  what still has to be sold, and a position with an open entry order is not trimmed until the
  cancel has settled (freqtrade allows one open order per trade). This holds with trims disabled
  and under ``trim_on_start: false`` too: cancelling an entry is refusing it, not trimming.
- Partial fills: a trim order that closes with only part of it filled (an IOC market order the
  book could not fill, a cancel after a partial fill) is not complete: it is counted
  ``partial``, the pair leaves ``episode_trimmed`` and the next round re-plans the remainder
  from the exposure measured then (what was sold already is no longer held, so nothing is sold
  twice).
- Rejected trims (the exchange refused the create, e.g. "order size too small"): counted
  failed, and the pair sits out the rest of the REDUCING episode (``episode_rejected``), so a
  refusal cannot repeat every round; the other pairs cover the excess, or the plan says
  NOTHING_TRADEABLE and the lock (and the TrimFailures alert) stays until an operator acts.
  ``episode_rejected`` is per process run: a restart tries those pairs once more.
- Thrash: one episode is counted when REDUCING ends and starts again within
  ``2 x trim_interval_cycles`` cycles; with a working band that count stays 0.

Per-cluster and per-asset caps (``policy.cluster_limits``, :mod:`trader247.core.clusters`) go
through the same evaluation: each capped cluster has its own hysteresis (``reducing_clusters``:
in strictly over its cap, out at or under its target), its cuts are proportional inside the
cluster only (clusters first, then assets), and they share the round, its interval,
``max_trims_per_cycle`` (biggest orders first), open trims (their stake counts as sold),
cooldowns, ``trims_enabled`` and ``trim_on_start`` with the total cap. A cluster over its cap
does not make the total state REDUCING: it blocks entries into that cluster only (the entry
gate), not every entry. When the total is REDUCING too, its excess not covered by the cluster
cuts is taken as usual from what those cuts leave; a pair gets one order.

Cycle numbers must be monotonic. If they go backwards (a restart reset the counter) the stored
cycle stamps are shifted so the new cycle directly follows the last evaluated one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from trader247.core.clusters import (
    ClusterExposure,
    ClusterMeasurement,
    cluster_cuts,
    fit_cut,
    measure_clusters,
)
from trader247.core.exposure import (
    CapPolicy,
    CapState,
    Exposure,
    Position,
    Snapshot,
    format_stake,
    measure,
    next_state,
)
from trader247.core.trim_order import TrimOrder as TrimOrder
from trader247.core.trim_state import (  # re-exported: callers import them from here
    FILL_MATCH_TOLERANCE_S as FILL_MATCH_TOLERANCE_S,
)
from trader247.core.trim_state import STATE_VERSION as STATE_VERSION
from trader247.core.trim_state import OpenTrim as OpenTrim
from trader247.core.trim_state import TrimState as TrimState
from trader247.core.trim_state import advance_state, rebase_cycles
from trader247.core.trim_state import expire_trims as expire_trims
from trader247.core.trim_state import in_cooldown as in_cooldown
from trader247.core.trim_state import on_trim_cancelled as on_trim_cancelled
from trader247.core.trim_state import on_trim_filled as on_trim_filled
from trader247.core.trim_state import on_trim_placed as on_trim_placed
from trader247.core.trim_state import on_trim_rejected as on_trim_rejected
from trader247.core.trim_state import reconcile_fills as reconcile_fills
from trader247.core.words import Word

_RECENT_ROUNDS_KEPT = 10


@dataclass(frozen=True, slots=True)
class TrimPlan:
    """One evaluation. ``state`` is the cap state now; ``trim_state`` must replace the old state.

    ``expired_pairs``: trims timed out in this evaluation; the adapter cancels those orders.
    ``to_trim``: excess over the target not yet covered by open trims.
    ``estimated_rounds``: rounds needed at current prices, from max orders a round.
    ``clusters``: every capped cluster and asset measured (None when no cluster limit is set);
    ``reducing_clusters``: those being trimmed (over their cap, or not yet back at target).
    With cluster limits, ``to_trim`` is the larger of the total's and the clusters' uncovered
    excess.
    ``cancel_entries``: pairs whose open entry orders the adapter cancels (REDUCING only).
    """

    orders: tuple[TrimOrder, ...]
    exposure: Exposure
    state: CapState
    next_round_cycle: int
    summary: str
    trim_state: TrimState
    expired_pairs: tuple[str, ...] = ()
    to_trim: float = 0.0
    estimated_rounds: int = 0
    clusters: ClusterMeasurement | None = None
    reducing_clusters: tuple[ClusterExposure, ...] = ()
    cancel_entries: tuple[str, ...] = ()


# --- planning -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    position: Position
    value: float
    min_stake: float


def _min_stake_for(min_stake: Mapping[str, float] | float, pair: str) -> float:
    if isinstance(min_stake, Mapping):
        if pair not in min_stake:
            # A guessed minimum means orders the exchange rejects, every round: refuse loudly.
            raise ValueError(f"min_stake has no entry for pair {pair!r}")
        value = min_stake[pair]
    else:
        value = min_stake
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"min_stake for {pair!r} must be finite and >= 0, got {value!r}")
    return float(value)


def _fit(want: float, remaining: float, c: _Candidate) -> tuple[float, bool] | None:
    """Size one order for ``want`` under the exchange minimum; None if it would overshoot.

    Returns ``(stake, full_exit)``. ``remaining`` is the excess still uncovered (> 0).
    """
    m, v = c.min_stake, c.value
    if v < 2 * m:
        stake, full = v, True
    else:
        stake, full = max(want, m), False
        if v - stake < m or stake >= v:
            stake, full = v, True
    if stake - remaining > m:
        return None
    return stake, full


def _order(c: _Candidate, stake: float, full: bool, reason: str) -> TrimOrder:
    position = c.position
    amount = position.amount if full else stake / position.mark_price
    return TrimOrder(position.pair, stake, amount, reason, full)


def _select(
    candidates: list[_Candidate],
    required: float,
    policy: CapPolicy,
    episode_trimmed: frozenset[str],
    tolerance: float,
) -> tuple[list[TrimOrder], bool]:
    """All orders needed at current prices (the round takes a prefix), and whether the episode
    pass restarted (every pair eligible again)."""
    reset = False
    if policy.trim_mode == "proportional":
        pool = [c for c in candidates if c.position.pair not in episode_trimmed]
        if sum(c.value for c in pool) < required - tolerance:
            pool, reset = candidates, bool(episode_trimmed)
        total = sum(c.value for c in pool)
        ratio = min(1.0, required / total) if total > 0 else 0.0
    else:
        pool, ratio = candidates, 1.0
    pool = sorted(pool, key=lambda c: (-c.value, c.position.pair))

    orders: list[TrimOrder] = []
    fallback: tuple[float, _Candidate] | None = None
    sold = 0.0
    for c in pool:
        remaining = required - sold
        if remaining <= tolerance:
            break
        want = min(remaining, ratio * c.value)
        fitted = _fit(want, remaining, c)
        if fitted is None:
            # Only positions worth m..2m land here; remember the least overshooting one.
            if fallback is None or c.value < fallback[0]:
                fallback = (c.value, c)
            continue
        stake, full = fitted
        if policy.trim_mode == "proportional":
            reason = f"TRIM_PROPORTIONAL: pair={c.position.pair} ratio={ratio:.4f}"
        else:
            reason = f"TRIM_LARGEST_FIRST: pair={c.position.pair}"
        reason += f" stake={stake:.10g} min_stake={c.min_stake:.10g}"
        orders.append(_order(c, stake, full, reason + (" full_exit=1" if full else "")))
        sold += stake
    if not orders and fallback is not None:
        c = fallback[1]
        reason = (
            f"TRIM_FULL_EXIT_OVERSHOOT: pair={c.position.pair} stake={c.value:.10g} "
            f"gap={required:.10g} min_stake={c.min_stake:.10g}"
        )
        orders.append(_order(c, c.value, True, reason))
    return orders, reset


def _status(exposure: Exposure) -> str:
    return f"at_risk={exposure.at_risk_pct:.1f}% cap={exposure.cap_pct:.1f}%"


def plan_trims(
    snapshot: Snapshot,
    policy: CapPolicy,
    *,
    min_stake: Mapping[str, float] | float,
    state: TrimState,
    cycle: int,
    now: float,
) -> TrimPlan:
    """Evaluate once per cycle: advance the cap state, expire stale trims, maybe plan a round.

    Call it every cycle (not only in rounds): it also keeps the state machine and the thrash
    counter current. ``now`` is wall-clock seconds, used only for trim timeouts.
    """
    first_evaluation = not state.started
    state, cycle_view = _evaluate(snapshot, policy, state, cycle=cycle, now=now)
    exposure, reducing = cycle_view.exposure, cycle_view.reducing
    status = _status(exposure)
    if cycle_view.cap_state is CapState.ACTIVE and not reducing:
        return cycle_view.plan(f"CAP_OK: {status}", state)
    if first_evaluation and not policy.trim_on_start:
        state = replace(state, startup_hold=True)
    # Open entry orders go first while REDUCING (G2): their stake leaves what must be sold.
    cancelling: dict[str, float] = {}
    total_to_trim = 0.0
    if cycle_view.cap_state is CapState.REDUCING:
        cancelling = {p.pair: p.open_entry_stake for p in snapshot.positions
                      if p.open_entry_stake > 0}
        cycle_view = replace(cycle_view, cancel_entries=tuple(sorted(cancelling)))
        total_to_trim = max(0.0, exposure.excess_over_target - state.pending_stake
                            - sum(cancelling.values()))
    to_trim = max(total_to_trim, _clusters_to_trim(reducing, state))
    if state.startup_hold:
        return cycle_view.plan(f"STARTUP_HOLD: {status} trim_on_start=false", state,
                               to_trim=to_trim)
    if not policy.trims_enabled:
        return cycle_view.plan(f"TRIMS_DISABLED: {status}", state, to_trim=to_trim)
    if to_trim <= exposure.tolerance:
        waiting = f"open_trims={len(state.open_trims)}"
        if cancelling:
            waiting += f" cancelling_entries={','.join(cycle_view.cancel_entries)}"
        return cycle_view.plan(f"WAITING_FILLS: {status} {waiting}", state)
    candidates, dust = _candidates(snapshot, state, min_stake)
    orders, reset = _select_with_clusters(
        candidates, total_to_trim, reducing, policy, state, exposure.tolerance)
    if not orders:
        return cycle_view.plan(
            f"NOTHING_TRADEABLE: {status} to_trim={to_trim:.10g} dust_positions={dust}",
            state,
            to_trim=to_trim,
        )
    return _round(cycle_view, state, policy, orders, reset=reset, cycle=cycle, to_trim=to_trim)


def _clusters_to_trim(reducing: tuple[ClusterExposure, ...], state: TrimState) -> float:
    """The largest excess over its target of a cluster being trimmed, open trims deducted."""
    needs = [
        g.at_risk - g.target_value
        - sum(state.open_trims[p].stake for p in g.pairs if p in state.open_trims)
        for g in reducing
    ]
    return max([0.0, *needs])


def _select_with_clusters(
    candidates: list[_Candidate],
    total_to_trim: float,
    reducing: tuple[ClusterExposure, ...],
    policy: CapPolicy,
    state: TrimState,
    tolerance: float,
) -> tuple[list[TrimOrder], bool]:
    """Cluster cuts first (proportional inside each cluster), then the total's remaining excess
    from what they leave (:func:`_select`); one order per pair, biggest first."""
    if not reducing:
        return _select(candidates, total_to_trim, policy, state.episode_trimmed, tolerance)
    by_pair = {c.position.pair: c for c in candidates}
    pending = {pair: trim.stake for pair, trim in state.open_trims.items()}
    cuts = cluster_cuts(reducing, {p: c.value for p, c in by_pair.items()}, pending=pending,
                      sit_out=state.episode_trimmed)
    sold = dict(cuts.sold)
    why = {pair: list(keys) for pair, keys in cuts.why.items()}
    reset = cuts.reset
    remaining = total_to_trim - sum(sold.values())
    if remaining > tolerance:
        rest = [replace(c, value=c.value - sold.get(p, 0.0)) for p, c in by_pair.items()
                if c.value - sold.get(p, 0.0) > 0]
        total_orders, total_reset = _select(rest, remaining, policy, state.episode_trimmed,
                                            tolerance)
        reset = reset or total_reset
        for order in total_orders:
            sold[order.pair] = sold.get(order.pair, 0.0) + order.stake_to_sell
            why.setdefault(order.pair, []).append("total")
    orders = []
    for pair, want in sold.items():
        c = by_pair[pair]
        stake, full = fit_cut(c.value, want, c.min_stake)
        reason = (f"TRIM_CLUSTER: pair={pair} {' '.join(why[pair])} share={stake / c.value:.4f} "
                  f"stake={stake:.10g} min_stake={c.min_stake:.10g}")
        order = _order(c, stake, full, reason + (" full_exit=1" if full else ""))
        orders.append(replace(order, limits=tuple(why[pair])))
    return sorted(orders, key=lambda o: (-o.stake_to_sell, o.pair)), reset


@dataclass(frozen=True, slots=True)
class _CycleView:
    """What one evaluation measured; every plan of this cycle carries it."""

    exposure: Exposure
    cap_state: CapState
    expired: tuple[str, ...]
    next_round: int
    clusters: ClusterMeasurement | None = None
    reducing: tuple[ClusterExposure, ...] = ()
    cancel_entries: tuple[str, ...] = ()

    def plan(
        self,
        summary: str,
        trim_state: TrimState,
        *,
        orders: tuple[TrimOrder, ...] = (),
        next_round_cycle: int | None = None,
        to_trim: float = 0.0,
        estimated_rounds: int = 0,
    ) -> TrimPlan:
        # Each cluster being trimmed is named at the end: "...; CLUSTER_OVER_CAP: cluster=MEME".
        summary = "; ".join([summary, *(g.status_reason() for g in self.reducing)])
        return TrimPlan(
            orders=orders,
            exposure=self.exposure,
            state=self.cap_state,
            next_round_cycle=self.next_round if next_round_cycle is None else next_round_cycle,
            summary=summary,
            trim_state=trim_state,
            expired_pairs=self.expired,
            to_trim=to_trim,
            estimated_rounds=estimated_rounds,
            clusters=self.clusters,
            reducing_clusters=self.reducing,
            cancel_entries=self.cancel_entries,
        )


def _evaluate(
    snapshot: Snapshot, policy: CapPolicy, state: TrimState, *, cycle: int, now: float
) -> tuple[TrimState, _CycleView]:
    """Rebase after a restart, expire stale trims, measure, advance the cap state."""
    state = rebase_cycles(state, cycle)
    state, expired = expire_trims(state, now, policy)
    measured = measure_clusters(snapshot, policy) if policy.cluster_limits.enabled else None
    exposure = measure(snapshot, policy) if measured is None else measured.exposure
    cap_state = next_state(state.cap_state, exposure, policy)
    state = advance_state(state, cap_state, cycle, policy)
    state, reducing = _advance_clusters(state, measured)
    if cap_state is CapState.ACTIVE and not reducing and state.startup_hold:
        # The start-up breach is over once the total and every cluster are back at target.
        state = replace(state, startup_hold=False)
    state = replace(
        state,
        last_cycle=cycle,
        started=True,
        cooldowns={p: until for p, until in state.cooldowns.items() if until > cycle},
    )
    last_round = state.last_round_cycle
    next_round = (
        cycle if last_round is None else max(cycle, last_round + policy.trim_interval_cycles)
    )
    return state, _CycleView(exposure, cap_state, expired, next_round, measured, reducing)


def _advance_clusters(
    state: TrimState, measured: ClusterMeasurement | None
) -> tuple[TrimState, tuple[ClusterExposure, ...]]:
    """Each capped cluster's hysteresis: in strictly over its cap, out at or under its target.
    A cluster entering starts a new episode (every pair may be cut again)."""
    reducing = () if measured is None else tuple(
        g for g in measured.all
        if g.over_cap or (g.key in state.reducing_clusters and not g.at_or_below_target))
    keys = frozenset(g.key for g in reducing)
    if keys == state.reducing_clusters:
        return state, reducing
    entered = bool(keys - state.reducing_clusters)
    return replace(state, reducing_clusters=keys,
                   episode_trimmed=frozenset() if entered else state.episode_trimmed), reducing


def _candidates(
    snapshot: Snapshot, state: TrimState, min_stake: Mapping[str, float] | float
) -> tuple[list[_Candidate], int]:
    """Positions a trim may sell and the number of dust positions. Not candidates: a pair with
    an open trim, with an open entry order (cancelled first), rejected in this episode."""
    candidates: list[_Candidate] = []
    dust = 0
    for position in snapshot.positions:
        value = position.value
        if (value <= 0 or position.pair in state.open_trims or position.open_entry_stake > 0
                or position.pair in state.episode_rejected):
            continue
        minimum = _min_stake_for(min_stake, position.pair)
        if value < minimum:
            dust += 1
            continue
        candidates.append(_Candidate(position, value, minimum))
    return candidates, dust


def _round(
    cycle_view: _CycleView,
    state: TrimState,
    policy: CapPolicy,
    orders: list[TrimOrder],
    *,
    reset: bool,
    cycle: int,
    to_trim: float,
) -> TrimPlan:
    """This cycle's share of ``orders``: a round when its interval has come, else a wait."""
    per_round = policy.max_trims_per_cycle
    rounds = math.ceil(len(orders) / per_round)
    status = _status(cycle_view.exposure)
    if cycle < cycle_view.next_round:
        return cycle_view.plan(
            f"WAITING_ROUND: {status} next_round_cycle={cycle_view.next_round}",
            state,
            to_trim=to_trim,
            estimated_rounds=rounds,
        )
    this_round = tuple(orders[:per_round])
    selling = sum(o.stake_to_sell for o in this_round)
    state = replace(
        state,
        last_round_cycle=cycle,
        recent_rounds=(*state.recent_rounds, cycle)[-_RECENT_ROUNDS_KEPT:],
        episode_trimmed=frozenset() if reset else state.episode_trimmed,
    )
    return cycle_view.plan(
        f"{Word.TRIM_ROUND}: {status} orders={len(this_round)} selling={selling:.10g} "
        f"to_trim={to_trim:.10g}",
        state,
        orders=this_round,
        next_round_cycle=cycle + policy.trim_interval_cycles,
        to_trim=to_trim,
        estimated_rounds=rounds,
    )


def needs_min_stakes(snapshot: Snapshot, policy: CapPolicy, state: TrimState) -> bool:
    """Whether the next evaluation may plan a trim, so the adapter must look up the exchange
    minimums (skipped under every cap: they cost a market lookup per position)."""
    if state.cap_state is CapState.REDUCING or state.reducing_clusters:
        return True
    if not policy.cluster_limits.enabled:
        return measure(snapshot, policy).over_cap
    measured = measure_clusters(snapshot, policy)
    return measured.exposure.over_cap or bool(measured.over_cap)


def format_plan_line(
    plan: TrimPlan, policy: CapPolicy, *, stake_currency: str, cycle_seconds: float
) -> str:
    """One human line for start-up and chat, e.g.
    ``at_risk 50.0% > cap 25.0%: trimming $70.20 over ~3 rounds (~15 min)``.

    Minutes = rounds x interval x cycle length: each round owns ``trim_interval_cycles`` cycles.
    """
    e = plan.exposure
    head = f"at_risk {e.at_risk_pct:.1f}%"
    if plan.state is CapState.ACTIVE:
        return f"{head} <= cap {e.cap_pct:.1f}%: no trim needed"
    # Hysteresis: REDUCING goes on below the cap until the target; say so, or "<= cap:
    # trimming" reads like a defect.
    head = (f"{head} > cap {e.cap_pct:.1f}%" if e.over_cap
            else f"{head} <= cap {e.cap_pct:.1f}% but > target {e.target_pct:.1f}%")
    if plan.trim_state.startup_hold:
        return f"{head}: trim_on_start is off, entries blocked until at_risk <= {e.target_pct:.1f}%"
    if not policy.trims_enabled:
        return f"{head}: trims disabled, entries blocked until at_risk <= {e.target_pct:.1f}%"
    if plan.to_trim <= e.tolerance:
        return f"{head}: waiting for {len(plan.trim_state.open_trims)} open trim(s) to fill"
    amount = format_stake(plan.to_trim, stake_currency)
    if plan.estimated_rounds == 0:
        return f"{head}: {amount} over target but no tradeable position (dust only)"
    rounds = plan.estimated_rounds
    seconds = rounds * policy.trim_interval_cycles * cycle_seconds
    duration = f"~{seconds / 60.0:.0f} min" if seconds >= 60 else f"~{seconds:.0f} s"
    noun = "round" if rounds == 1 else "rounds"
    return f"{head}: trimming {amount} over ~{rounds} {noun} ({duration})"
