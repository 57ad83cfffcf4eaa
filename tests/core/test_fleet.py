"""Fleet decisions: one account snapshot, reservations, leadership, one trim round split per bot."""

from __future__ import annotations

import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.exposure import CapPolicy, CapState, Position, measure
from trader247.core.fleet import (
    Leader,
    Member,
    Reservation,
    fleet_snapshot,
    join_problem,
    next_leader,
    reserve,
    split_round,
)
from trader247.core.trims import TrimState, plan_trims

POLICY: CapPolicy = shipped_cap_policy()  # cap 25 %, target 23 %
LEASE = 30.0


def member(bot: str, values: dict[str, float], *, at: float = 0.0,
           entering: float = 0.0, cap: float = 25.0) -> Member:
    # Mark 2.0 so that a mix-up of amount and value shows.
    positions = tuple(Position(pair, v / 2.0, 2.0) for pair, v in values.items())
    if entering:
        positions += (Position("OPEN/USD", 0.0, 1.0, entering),)
    return Member(bot, cap, positions, at)


def test_three_bots_each_under_the_cap_are_over_it_together() -> None:
    # Each bot alone holds 20 % of $1000 equity; together 60 %.
    bots = [member(b, {"BTC/USD": 200.0}) for b in ("a", "b", "c")]
    snap = fleet_snapshot(400.0, bots, [], now=0.0)
    e = measure(snap, POLICY)
    assert e.equity == pytest.approx(1000.0)
    assert e.at_risk_pct == pytest.approx(60.0)
    decision, _ = reserve(snap, POLICY, CapState.ACTIVE, requested=10.0, min_stake=1.0,
                          max_stake=1e9)
    assert not decision.allowed
    assert decision.reason.startswith("FLEET_OVER_CAP: at_risk=60.0% cap=25.0%")


def test_reservation_clamps_to_the_fleet_target_and_counts_until_it_expires() -> None:
    # $1000 equity, 200 held by two bots: headroom to the 23 % target is $30.
    bots = [member("a", {"BTC/USD": 100.0}), member("b", {"ETH/USD": 100.0})]
    snap = fleet_snapshot(800.0, bots, [], now=0.0)
    decision, _ = reserve(snap, POLICY, CapState.ACTIVE, requested=50.0, min_stake=1.0,
                          max_stake=1e9)
    assert decision.stake == pytest.approx(30.0)
    assert "limited_by=headroom" in decision.reason
    # The granted $30 is reserved: a second bot asking at the same moment gets nothing.
    held = [Reservation("a", "SOL/USD", 30.0, expires_at=10.0)]
    again, exposure = reserve(fleet_snapshot(800.0, bots, held, now=9.9), POLICY,
                              CapState.ACTIVE, requested=5.0, min_stake=1.0, max_stake=1e9)
    assert exposure.at_risk == pytest.approx(230.0) and exposure.equity == pytest.approx(1000.0)
    assert not again.allowed and again.reason.startswith("BELOW_MIN_STAKE")
    # At its expiry it no longer holds headroom.
    later, _ = reserve(fleet_snapshot(800.0, bots, held, now=10.0), POLICY, CapState.ACTIVE,
                       requested=5.0, min_stake=1.0, max_stake=1e9)
    assert later.stake == pytest.approx(5.0)


def test_exactly_at_the_target_nothing_is_granted_one_cent_under_one_cent_is() -> None:
    at_target = [member("a", {"BTC/USD": 230.0})]
    decision, _ = reserve(fleet_snapshot(770.0, at_target, [], now=0.0), POLICY,
                          CapState.ACTIVE, requested=1.0, min_stake=0.005, max_stake=1e9)
    assert not decision.allowed
    below = [member("a", {"BTC/USD": 229.99})]
    decision, _ = reserve(fleet_snapshot(770.01, below, [], now=0.0), POLICY,
                          CapState.ACTIVE, requested=1.0, min_stake=0.005, max_stake=1e9)
    assert decision.stake == pytest.approx(0.01)  # equity still $1000: one cent of headroom


def test_open_entry_stake_of_another_bot_counts() -> None:
    bots = [member("a", {}, entering=220.0), member("b", {})]
    decision, exposure = reserve(fleet_snapshot(1000.0, bots, [], now=0.0), POLICY,
                                 CapState.ACTIVE, requested=50.0, min_stake=1.0, max_stake=1e9)
    assert exposure.at_risk == pytest.approx(220.0)
    assert decision.stake == pytest.approx(10.0)


def test_a_dead_members_positions_still_count() -> None:
    dead = member("a", {"BTC/USD": 300.0}, at=-1000.0)
    assert dead.stale(now=0.0, lease_seconds=LEASE)
    decision, _ = reserve(fleet_snapshot(700.0, [dead, member("b", {})], [], now=0.0), POLICY,
                          CapState.ACTIVE, requested=10.0, min_stake=1.0, max_stake=1e9)
    assert decision.reason.startswith("FLEET_OVER_CAP")


def test_join_refuses_a_different_cap_naming_both() -> None:
    members = [member("a", {}, cap=25.0)]
    problem = join_problem("b", 30.0, members, now=0.0, lease_seconds=LEASE)
    assert problem is not None and "30" in problem and "25" in problem and "'a'" in problem
    assert join_problem("b", 25.0, members, now=0.0, lease_seconds=LEASE) is None
    # A stale member with another cap does not block (it left; its report is old).
    old = [member("a", {}, cap=25.0, at=-31.0)]
    assert join_problem("b", 30.0, old, now=0.0, lease_seconds=LEASE) is None


def test_leadership_is_a_lease() -> None:
    first = next_leader(None, "a", now=0.0, lease_seconds=LEASE)
    assert first == Leader("a", 30.0, 1)
    assert next_leader(first, "b", now=29.9, lease_seconds=LEASE) is first
    renewed = next_leader(first, "a", now=20.0, lease_seconds=LEASE)
    assert renewed == Leader("a", 50.0, 1)
    taken = next_leader(renewed, "b", now=50.0, lease_seconds=LEASE)
    assert taken == Leader("b", 80.0, 2)


def test_one_round_for_the_fleet_split_per_bot_no_position_twice() -> None:
    # $400 held by three bots of $1000: 40 % over a 25 % cap, trim to 23 %: $170.
    bots = [member("a", {"BTC/USD": 200.0}), member("b", {"BTC/USD": 100.0}),
            member("c", {"ETH/USD": 100.0})]
    snap = fleet_snapshot(600.0, bots, [], now=0.0)
    plan = plan_trims(snap, POLICY, min_stake=1.0, state=TrimState(), cycle=0, now=0.0)
    assert plan.state is CapState.REDUCING
    per_bot = split_round(plan.orders)
    assert set(per_bot) == {"a", "b", "c"}
    pairs = [(bot, o.pair) for bot, orders in per_bot.items() for o in orders]
    assert len(pairs) == len(set(pairs)) == 3
    stakes = {bot: orders[0].stake_to_sell for bot, orders in per_bot.items()}
    # Proportional across the fleet: every position loses the same share.
    assert stakes["a"] == pytest.approx(2 * stakes["b"]) and stakes["b"] == pytest.approx(
        stakes["c"])
    assert sum(stakes.values()) == pytest.approx(plan.to_trim)
    assert per_bot["b"][0].pair == "BTC/USD"
