"""Trims against real orders ([G2]): partial fills, rejected creates, open entries cancelled first.

Values at the boundaries of the shipped policy (cap 25 %, band 2, 3 orders a round, interval 3).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.exposure import CapState, Position, Snapshot
from trader247.core.trims import (
    TrimPlan,
    TrimState,
    on_trim_filled,
    on_trim_placed,
    on_trim_rejected,
    plan_trims,
)

POLICY = shipped_cap_policy()


def plan(s: Snapshot, state: TrimState | None = None, cycle: int = 0) -> TrimPlan:
    return plan_trims(s, POLICY, min_stake=1.0, state=state or TrimState(), cycle=cycle,
                      now=cycle * 10.0)


def placed(p: TrimPlan, cycle: int = 0) -> TrimState:
    state = p.trim_state
    for order in p.orders:
        state = on_trim_placed(state, order, now=cycle * 10.0, cycle=cycle, policy=POLICY)
    return state


# equity 1000: cap 250, target 230
THREE = (Position("A/USD", 100.0, 1.0), Position("B/USD", 100.0, 1.0),
         Position("C/USD", 100.0, 1.0))


# --- partial fills ----------------------------------------------------------------------------


def test_a_partial_fill_is_not_complete_and_the_pair_is_planned_again() -> None:
    p = plan(Snapshot(700.0, THREE))  # at_risk 300 of 1000: sell 70
    assert p.state is CapState.REDUCING and len(p.orders) == 3
    state = placed(p)
    assert state.episode_trimmed == {"A/USD", "B/USD", "C/USD"}
    state, latency = on_trim_filled(state, "A/USD", 4.0, complete=False)
    assert latency == pytest.approx(4.0)
    assert "A/USD" not in state.open_trims
    assert (state.filled, state.partial, state.failed) == (0, 1, 0)
    assert "A/USD" not in state.episode_trimmed  # eligible for the remainder
    state, _ = on_trim_filled(state, "B/USD", 4.0)
    state, _ = on_trim_filled(state, "C/USD", 4.0)
    assert (state.filled, state.partial) == (2, 1)
    # A sold half of its 23.33: 11.67 still over the target; B and C sold theirs
    sold = {o.pair: o.stake_to_sell for o in p.orders}
    after = Snapshot(700.0 + sold["A/USD"] / 2 + sold["B/USD"] + sold["C/USD"], (
        Position("A/USD", 100.0 - sold["A/USD"] / 2, 1.0),
        Position("B/USD", 100.0 - sold["B/USD"], 1.0),
        Position("C/USD", 100.0 - sold["C/USD"], 1.0)))
    nxt = plan(after, state, cycle=3)
    assert nxt.to_trim == pytest.approx(sold["A/USD"] / 2)
    # the proportional pass only has A left un-trimmed: the remainder is sold there, once
    assert [o.pair for o in nxt.orders] == ["A/USD"]
    assert nxt.orders[0].stake_to_sell == pytest.approx(sold["A/USD"] / 2)


def test_a_complete_fill_keeps_the_pair_out_of_later_rounds() -> None:
    state = placed(plan(Snapshot(700.0, THREE)))
    state, _ = on_trim_filled(state, "A/USD", 4.0, complete=True)
    assert (state.filled, state.partial) == (1, 0)
    assert "A/USD" in state.episode_trimmed


def test_partial_counter_survives_a_restart_and_old_states_load() -> None:
    state = replace(TrimState(), partial=2)
    assert TrimState.from_dict(state.to_dict()).partial == 2
    old = state.to_dict()
    del old["partial"]
    assert TrimState.from_dict(old).partial == 0


# --- rejected creates -------------------------------------------------------------------------


def test_a_rejected_trim_fails_once_and_sits_out_the_episode() -> None:
    p = plan(Snapshot(700.0, THREE))
    state = on_trim_rejected(placed(p), "A/USD")
    assert state.failed == 1 and "A/USD" in state.episode_rejected
    assert on_trim_rejected(state, "A/USD") == state  # unknown now: nothing counted twice
    for pair in ("B/USD", "C/USD"):
        state = on_trim_rejected(state, pair)
    # nothing sold: the next round has only rejected pairs left -> no order, no loop
    nxt = plan(Snapshot(700.0, THREE), state, cycle=3)
    assert nxt.state is CapState.REDUCING and nxt.orders == ()
    assert nxt.summary.startswith("NOTHING_TRADEABLE")
    assert nxt.trim_state.failed == 3


def test_rejected_pairs_are_tried_again_in_the_next_episode_and_not_persisted() -> None:
    state = on_trim_rejected(placed(plan(Snapshot(700.0, THREE))), "A/USD")
    assert "episode_rejected" not in state.to_dict()
    calm = plan(Snapshot(900.0, THREE), state, cycle=3)  # 300 of 1200 = 25 %... over target
    assert calm.state is CapState.REDUCING
    below = plan(Snapshot(2000.0, THREE), calm.trim_state, cycle=4)  # 13 %: ACTIVE
    assert below.state is CapState.ACTIVE and below.trim_state.episode_rejected == frozenset()


def test_other_pairs_cover_the_excess_of_a_rejected_one() -> None:
    p = plan(Snapshot(700.0, THREE))
    state = on_trim_rejected(placed(p), "A/USD")
    for pair in ("B/USD", "C/USD"):
        state, _ = on_trim_filled(state, pair, 4.0)
    sold = {o.pair: o.stake_to_sell for o in p.orders}
    after = Snapshot(700.0 + sold["B/USD"] + sold["C/USD"], (
        THREE[0], Position("B/USD", 100.0 - sold["B/USD"], 1.0),
        Position("C/USD", 100.0 - sold["C/USD"], 1.0)))
    nxt = plan(after, state, cycle=3)
    assert "A/USD" not in {o.pair for o in nxt.orders}
    assert nxt.orders and sum(o.stake_to_sell for o in nxt.orders) == pytest.approx(
        sold["A/USD"])


# --- open entry orders go first ---------------------------------------------------------------


def entering(open_entry: float) -> Snapshot:
    # 200 held + an open entry order of ``open_entry`` stake; total balance 800 (locked included)
    return Snapshot(800.0, (Position("A/USD", 100.0, 1.0), Position("B/USD", 100.0, 1.0),
                            Position("C/USD", 0.0, 1.0, open_entry_stake=open_entry)))


def test_cancelling_open_entries_covers_the_excess_without_selling() -> None:
    # at_risk 200 + 70 = 270 of 1000: 40 over the target, the open entry frees 70
    p = plan(entering(70.0))
    assert p.state is CapState.REDUCING
    assert p.cancel_entries == ("C/USD",)
    assert p.orders == () and p.to_trim == 0.0
    assert p.summary.startswith("WAITING_FILLS") and "cancelling_entries=C/USD" in p.summary


def test_only_the_excess_beyond_the_open_entries_is_sold() -> None:
    # at_risk 200 + 60 = 260: 30 over the target; cancelling frees 60 -> nothing to sell
    assert plan(entering(60.0)).orders == ()
    # at_risk 200 + 40 = 240 of 1000 ... with 60 held more: 300 + 40 = 340 of 1100
    s = Snapshot(800.0, (Position("A/USD", 150.0, 1.0), Position("B/USD", 150.0, 1.0),
                         Position("C/USD", 0.0, 1.0, open_entry_stake=40.0)))
    p = plan(s)
    excess = 340.0 - 0.23 * 1100.0
    assert p.to_trim == pytest.approx(excess - 40.0)
    assert sum(o.stake_to_sell for o in p.orders) == pytest.approx(excess - 40.0)
    assert {o.pair for o in p.orders} == {"A/USD", "B/USD"}  # never the pair still entering
    assert p.cancel_entries == ("C/USD",)


def test_a_partly_filled_entry_is_cancelled_and_not_trimmed_meanwhile() -> None:
    s = Snapshot(700.0, (Position("A/USD", 250.0, 1.0, open_entry_stake=50.0),))
    p = plan(s)  # at_risk 300 of 950: 70.5 over the target, 50 freed by the cancel
    assert p.cancel_entries == ("A/USD",)
    assert p.orders == () and p.summary.startswith("NOTHING_TRADEABLE")


def test_no_cancel_while_active_and_cancel_even_with_trims_disabled() -> None:
    assert plan(entering(10.0)).cancel_entries == ()  # 210 of 1000: ACTIVE
    off = replace(POLICY, trims_enabled=False)
    p = plan_trims(entering(70.0), off, min_stake=1.0, state=TrimState(), cycle=0, now=0.0)
    assert p.state is CapState.REDUCING and p.cancel_entries == ("C/USD",) and p.orders == ()
