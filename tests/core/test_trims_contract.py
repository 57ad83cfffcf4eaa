"""Trim planning contract: the amounts sold, which pairs, the reason codes and summaries an
operator reads, and the boundaries (exchange minimum, float tolerance, episode reset).

Two scales: equity $1000 for readable amounts, and equity $1e9, where the exposure's float
tolerance (a billionth of equity, exposure module doc) is exactly $1, so "at the tolerance" and
"one dollar over" are exact numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.exposure import CapPolicy, CapState, Position, Snapshot
from trader247.core.trims import (
    OpenTrim,
    TrimPlan,
    TrimState,
    format_plan_line,
    on_trim_placed,
    plan_trims,
)

# config/policy.yaml: cap 25, band 2 (target 23 %), interval 3, 3 orders a round, cooldown 6
POLICY = shipped_cap_policy()
LARGEST = shipped_cap_policy(trim_mode="largest_first")
BIG = 1e9  # equity whose tolerance is exactly 1.0
REDUCING = TrimState(cap_state=CapState.REDUCING, last_cycle=0, started=True)


def book(equity: float, **values: float | tuple[float, float]) -> Snapshot:
    """Positions ``A=60`` (worth 60 at mark 1) or ``A=(amount, mark)``; cash fills up to
    ``equity``."""
    positions = []
    for base, v in values.items():
        amount, mark = v if isinstance(v, tuple) else (v, 1.0)
        positions.append(Position(f"{base}/USD", amount, mark))
    return Snapshot(equity - sum(p.value for p in positions), tuple(positions))


def evaluate(s: Snapshot, policy: CapPolicy = POLICY, *, state: TrimState | None = None,
             cycle: int = 1, min_stake: Mapping[str, float] | float = 1.0) -> TrimPlan:
    return plan_trims(s, policy, min_stake=min_stake, state=state or TrimState(), cycle=cycle,
                      now=float(cycle))


def sold(plan: TrimPlan) -> dict[str, float]:
    return {o.pair: o.stake_to_sell for o in plan.orders}


# --- exchange minimums: bad values ----------------------------------------------------------


@pytest.mark.parametrize("bad", [-1.0, -0.01, math.inf, math.nan])
def test_a_bad_minimum_is_refused_naming_the_pair(bad: float) -> None:
    with pytest.raises(ValueError) as info:
        evaluate(book(1000.0, A=300.0), min_stake={"A/USD": bad})
    assert str(info.value) == f"min_stake for 'A/USD' must be finite and >= 0, got {bad!r}"


def test_a_zero_minimum_is_allowed() -> None:
    plan = evaluate(book(1000.0, A=300.0), min_stake=0.0)
    assert sold(plan) == {"A/USD": pytest.approx(70.0)}


def test_a_missing_minimum_names_the_pair() -> None:
    with pytest.raises(ValueError) as info:
        evaluate(book(1000.0, A=200.0, B=100.0), min_stake={"A/USD": 1.0})
    assert str(info.value) == "min_stake has no entry for pair 'B/USD'"


# --- what is sold, and the reason each order carries ----------------------------------------


def test_proportional_orders_and_their_reasons() -> None:
    # at_risk 300 of 1000, target 230: 70 to sell, ratio 70 / 300 on each of three pairs.
    plan = evaluate(book(1000.0, A=150.0, B=100.0, C=50.0), min_stake=5.0)
    assert sold(plan) == pytest.approx({"A/USD": 35.0, "B/USD": 70.0 / 3, "C/USD": 35.0 / 3})
    assert [o.reason for o in plan.orders] == [
        "TRIM_PROPORTIONAL: pair=A/USD ratio=0.2333 stake=35 min_stake=5",
        "TRIM_PROPORTIONAL: pair=B/USD ratio=0.2333 stake=23.33333333 min_stake=5",
        "TRIM_PROPORTIONAL: pair=C/USD ratio=0.2333 stake=11.66666667 min_stake=5",
    ]
    assert not any(o.full_exit for o in plan.orders)
    assert plan.summary == ("TRIM_ROUND: at_risk=30.0% cap=25.0% orders=3 selling=70 "
                            "to_trim=70")


def test_largest_first_orders_and_their_reasons() -> None:
    plan = evaluate(book(1000.0, A=60.0, B=40.0, C=200.0), LARGEST, min_stake=5.0)
    # 70 to sell: all from C (the biggest), leaving 130.
    assert [o.reason for o in plan.orders] == [
        "TRIM_LARGEST_FIRST: pair=C/USD stake=70 min_stake=5"]
    plan = evaluate(book(1000.0, A=60.0, B=40.0, C=55.0, D=145.0), LARGEST, min_stake=5.0)
    # D's 70 would leave 75: partial; then nothing more.
    assert [o.reason for o in plan.orders] == [
        "TRIM_LARGEST_FIRST: pair=D/USD stake=70 min_stake=5"]


def test_a_full_exit_says_so_and_sells_the_whole_amount() -> None:
    # amount 0.1 at 3.0: stake / mark would be 0.10000000000000002, not the position.
    s = book(BIG, A=(0.1, 3.0), B=(4e8 - 0.3, 1.0))
    plan = evaluate(s, LARGEST, state=REDUCING, min_stake={"A/USD": 0.01, "B/USD": 1e9})
    (order,) = plan.orders
    assert order.full_exit and order.amount == 0.1
    assert order.reason == (
        "TRIM_LARGEST_FIRST: pair=A/USD stake=0.3 min_stake=0.01 full_exit=1")


def test_overshoot_full_exit_reason_and_amount() -> None:
    # Gap 2, two positions worth 9 (min 5): any full exit overshoots by > 5; equal values go
    # in pair order, so X (before Y) is the one sold.
    policy = shipped_cap_policy(trim_band_pct=0.0)
    s = book(1000.0, X=(3.0, 3.0), Y=(4.5, 2.0), Z=234.0)
    plan = evaluate(s, policy, min_stake={"X/USD": 5.0, "Y/USD": 5.0, "Z/USD": 500.0})
    (order,) = plan.orders
    assert (order.pair, order.amount, order.full_exit) == ("X/USD", 3.0, True)
    assert order.reason == "TRIM_FULL_EXIT_OVERSHOOT: pair=X/USD stake=9 gap=2 min_stake=5"


def test_nothing_left_to_share_sells_everything_tradeable_at_ratio_one() -> None:
    # 70 to sell but only A (30) is tradeable: A exits fully, ratio capped at 1.
    plan = evaluate(book(1000.0, A=30.0, B=270.0), min_stake={"A/USD": 1.0, "B/USD": 300.0})
    assert [o.reason for o in plan.orders] == [
        "TRIM_PROPORTIONAL: pair=A/USD ratio=1.0000 stake=30 min_stake=1 full_exit=1"]


def test_a_book_smaller_than_one_unit_is_still_proportional() -> None:
    # BTC stake currency: 0.013 held of 0.026; 0.00702 to sell, 54 % of each position.
    s = Snapshot(0.013, (Position("ETH/BTC", 0.0035, 2.0), Position("SOL/BTC", 0.003, 2.0)))
    plan = evaluate(s, min_stake=0.0001)
    assert sold(plan) == pytest.approx({"ETH/BTC": 0.007 * 0.54, "SOL/BTC": 0.006 * 0.54})
    assert all("ratio=0.5400" in o.reason for o in plan.orders)


# --- episodes: pairs cut earlier sit out unless the rest cannot cover -------------------------


def test_pairs_cut_this_episode_sit_out_while_the_rest_covers() -> None:
    state = replace(REDUCING, episode_trimmed=frozenset({"A/USD"}))
    plan = evaluate(book(1000.0, A=150.0, B=100.0, C=50.0), state=state)
    assert sold(plan) == pytest.approx({"B/USD": 70.0 * 100 / 150, "C/USD": 70.0 * 50 / 150})
    assert plan.trim_state.episode_trimmed == frozenset({"A/USD"})


def test_when_the_rest_cannot_cover_every_pair_is_eligible_again() -> None:
    state = replace(REDUCING, episode_trimmed=frozenset({"A/USD"}))
    plan = evaluate(book(1000.0, A=250.0, B=30.0, C=20.0), state=state)
    assert set(sold(plan)) == {"A/USD", "B/USD", "C/USD"}
    assert all("ratio=0.2333" in o.reason for o in plan.orders)
    # The episode restarted: A may be cut again in later rounds too.
    assert plan.trim_state.episode_trimmed == frozenset()


def test_a_rest_short_by_exactly_the_tolerance_still_covers() -> None:
    # Equity 1e9 (tolerance 1): 10,000,001 to sell, B + C hold 10,000,000: float noise, no
    # restart of the episode; B and C exit fully, A is not touched.
    s = book(BIG, A=230_000_001.0, B=5e6, C=5e6)
    state = replace(REDUCING, episode_trimmed=frozenset({"A/USD"}))
    plan = evaluate(s, state=state)
    assert plan.to_trim == 10_000_001.0
    assert sold(plan) == {"B/USD": 5e6, "C/USD": 5e6}
    assert plan.trim_state.episode_trimmed == frozenset({"A/USD"})


def test_a_remainder_of_exactly_the_tolerance_places_no_further_order() -> None:
    # Largest first, 6,000,001 to sell: A's 6e6 leaves 1 = the tolerance; B is not touched.
    s = book(BIG, A=6e6, B=5e6, C=225_000_001.0)
    plan = evaluate(s, LARGEST, state=REDUCING,
                    min_stake={"A/USD": 1.0, "B/USD": 1.0, "C/USD": 1e9})
    assert plan.to_trim == 6_000_001.0
    assert sold(plan) == {"A/USD": 6e6}


# --- candidates: what may be sold -----------------------------------------------------------


def test_a_position_worth_exactly_the_minimum_is_sold_whole() -> None:
    plan = evaluate(book(1000.0, A=5.0, B=295.0), min_stake={"A/USD": 5.0, "B/USD": 300.0})
    assert [(o.pair, o.stake_to_sell, o.full_exit) for o in plan.orders] == [
        ("A/USD", 5.0, True)]


def test_dust_and_empty_positions_in_the_nothing_tradeable_summary() -> None:
    # A is worth 4.99 (< 5: dust), E has no amount left (a closed position): not dust.
    s = book(1000.0, A=4.99, B=295.01, E=0.0)
    plan = evaluate(s, min_stake={"A/USD": 5.0, "B/USD": 300.0, "E/USD": 5.0})
    assert plan.orders == ()
    assert plan.summary == ("NOTHING_TRADEABLE: at_risk=30.0% cap=25.0% to_trim=70 "
                            "dust_positions=2")


def test_an_open_entry_order_of_any_size_keeps_its_pair_out() -> None:
    s = Snapshot(700.0, (Position("A/USD", 200.0, 1.0, open_entry_stake=0.5),
                         Position("B/USD", 100.0, 1.0)))
    plan = evaluate(s)
    assert plan.cancel_entries == ("A/USD",)
    assert set(sold(plan)) == {"B/USD"}
    # 300.5 at risk of 1000 (the entry's stake is in the balance): 0.5 freed by the cancel.
    assert plan.to_trim == pytest.approx(300.5 - 230.0 - 0.5)


# --- rounds ---------------------------------------------------------------------------------


def test_waiting_for_the_round_still_reports_what_is_left_and_the_rounds() -> None:
    s = book(1000.0, **{f"P{i}": 30.0 for i in range(10)})  # 70 over target, 10 pairs
    first = evaluate(s, cycle=1)
    assert len(first.orders) == 3 and first.next_round_cycle == 4
    wait = evaluate(s, state=first.trim_state, cycle=3)
    assert wait.orders == ()
    assert wait.summary == "WAITING_ROUND: at_risk=30.0% cap=25.0% next_round_cycle=4"
    assert wait.to_trim == pytest.approx(70.0)
    assert wait.estimated_rounds == 4
    assert wait.next_round_cycle == 4


def test_the_round_records_its_cycle_and_keeps_the_last_ten() -> None:
    state = replace(REDUCING, last_round_cycle=27, recent_rounds=tuple(range(0, 30, 3)))
    plan = evaluate(book(1000.0, A=300.0), state=state, cycle=30)
    assert plan.orders and plan.trim_state.last_round_cycle == 30
    assert plan.trim_state.recent_rounds == tuple(range(3, 33, 3))


# --- the plan line an operator reads --------------------------------------------------------


@pytest.mark.parametrize("cycle_seconds, duration", [
    (20.0 / 3, "~20 s"),   # 1 round x 3 cycles
    (59.0 / 3, "~59 s"),
    (20.0, "~1 min"),      # exactly 60 s
    (1200.0, "~60 min"),   # 3600 s
    (1230.0, "~62 min"),
])
def test_plan_line_duration(cycle_seconds: float, duration: str) -> None:
    plan = evaluate(book(1000.0, A=300.0))
    assert plan.estimated_rounds == 1
    line = format_plan_line(plan, POLICY, stake_currency="USD", cycle_seconds=cycle_seconds)
    assert line == f"at_risk 30.0% > cap 25.0%: trimming $70.00 over ~1 round ({duration})"


def test_plan_line_when_what_is_left_is_float_noise() -> None:
    plan = evaluate(book(1000.0, A=300.0))
    state = on_trim_placed(plan.trim_state, plan.orders[0], now=1.0, cycle=1, policy=POLICY)
    noise = replace(plan, to_trim=plan.exposure.tolerance, trim_state=state)
    line = format_plan_line(noise, POLICY, stake_currency="USD", cycle_seconds=60.0)
    assert line == "at_risk 30.0% > cap 25.0%: waiting for 1 open trim(s) to fill"


def test_open_trims_count_as_sold() -> None:
    state = replace(REDUCING, open_trims={"A/USD": OpenTrim(0.0, 30.0, 0)})
    plan = evaluate(book(1000.0, A=200.0, B=100.0), state=state)
    assert plan.to_trim == pytest.approx(40.0)
    assert sold(plan) == {"B/USD": pytest.approx(40.0)}


# --- what each kind of plan reports ---------------------------------------------------------


def test_held_and_disabled_plans_still_report_what_is_to_trim() -> None:
    s = book(1000.0, A=300.0)
    hold = evaluate(s, shipped_cap_policy(trim_on_start=False))
    assert hold.summary == "STARTUP_HOLD: at_risk=30.0% cap=25.0% trim_on_start=false"
    assert hold.to_trim == pytest.approx(70.0) and hold.orders == ()
    line = format_plan_line(hold, shipped_cap_policy(trim_on_start=False), stake_currency="USD",
                            cycle_seconds=60.0)
    assert line == ("at_risk 30.0% > cap 25.0%: trim_on_start is off, entries blocked until "
                    "at_risk <= 23.0%")
    off = evaluate(s, shipped_cap_policy(trims_enabled=False))
    assert off.to_trim == pytest.approx(70.0) and off.orders == ()


def test_open_trims_covering_all_but_the_tolerance_wait_for_fills() -> None:
    # Equity 1e9 (tolerance 1): 11 over the target, 10 in an open trim: 1 left is noise.
    state = replace(REDUCING, open_trims={"A/USD": OpenTrim(0.0, 10.0, 0)})
    s = book(BIG, A=225_000_011.0, B=5e6)
    plan = evaluate(s, state=state)
    assert plan.orders == ()
    assert plan.summary == "WAITING_FILLS: at_risk=23.0% cap=25.0% open_trims=1"
    # One more dollar over is a trim.
    more = evaluate(book(BIG, A=225_000_012.0, B=5e6), state=state)
    assert sold(more) == {"B/USD": 2.0}


def test_waiting_fills_names_the_entries_being_cancelled() -> None:
    s = Snapshot(700.0, (Position("A/USD", 200.0, 1.0, open_entry_stake=80.0),
                         Position("B/USD", 100.0, 1.0, open_entry_stake=20.0)))
    plan = evaluate(s)  # 400 at risk of 1000: 170 over, 100 freed by the cancels, 70 to sell
    assert plan.cancel_entries == ("A/USD", "B/USD")
    assert plan.summary == ("NOTHING_TRADEABLE: at_risk=40.0% cap=25.0% to_trim=70 "
                            "dust_positions=0")
    state = replace(plan.trim_state, open_trims={"C/USD": OpenTrim(0.0, 70.0, 1)})
    plan = evaluate(s, state=state, cycle=2)
    assert plan.summary == ("WAITING_FILLS: at_risk=40.0% cap=25.0% open_trims=1 "
                            "cancelling_entries=A/USD,B/USD")


def test_plan_line_under_the_cap() -> None:
    plan = evaluate(book(1000.0, A=250.0))  # exactly at the cap: ACTIVE
    assert plan.state is CapState.ACTIVE and plan.summary == "CAP_OK: at_risk=25.0% cap=25.0%"
    line = format_plan_line(plan, POLICY, stake_currency="USD", cycle_seconds=60.0)
    assert line == "at_risk 25.0% <= cap 25.0%: no trim needed"


# --- a whole position sold is a full exit, with no exchange minimum too -----------------------


@pytest.mark.parametrize("policy", [POLICY, LARGEST])
def test_a_whole_position_sold_is_a_full_exit_without_an_exchange_minimum(
        policy: CapPolicy) -> None:
    # B sits out (rejected this episode): A ($50, 50/3 at $3) is all there is for the $70 over
    # the target. Sold whole: the amount held, not stake / mark (16.666666666666668 > held).
    state = replace(REDUCING, episode_rejected=frozenset({"B/USD"}))
    plan = evaluate(book(1000.0, A=(50 / 3, 3.0), B=250.0), policy, state=state, min_stake=0.0)
    assert [(o.pair, o.stake_to_sell, o.amount, o.full_exit) for o in plan.orders] == [
        ("A/USD", 50.0, 50 / 3, True)]
    assert plan.orders[0].reason.endswith(" stake=50 min_stake=0 full_exit=1")


def test_without_cluster_limits_a_plan_measures_no_clusters() -> None:
    plan = evaluate(book(1000.0, A=300.0), state=REDUCING)
    assert plan.clusters is None and plan.reducing_clusters == ()
    assert plan.exposure.at_risk == 300.0 and len(plan.orders) == 1
