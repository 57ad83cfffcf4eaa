"""Fleet contract: settings refused with their value, the account snapshot the planner and the
adapter read, the gate's state, staleness at the lease boundary, and bot names with '|'."""

from __future__ import annotations

import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.clusters import ClusterLimits, measure_clusters
from trader247.core.exposure import CapState, Position, Snapshot
from trader247.core.fleet import (
    Member,
    Reservation,
    fleet_snapshot,
    join_problem,
    position_key,
    reserve,
    split_key,
    split_round,
)
from trader247.core.trims import TrimOrder

POLICY = shipped_cap_policy()  # cap 25 %, target 23 %
LEASE = 30.0


@pytest.mark.parametrize("age, stale", [(29.99, False), (30.0, False), (30.01, True)])
def test_a_member_is_stale_only_past_its_lease(age: float, stale: bool) -> None:
    other = Member("a", 25.0, (), reported_at=100.0)
    assert other.stale(100.0 + age, LEASE) is stale
    # A live member with another cap blocks a join; exactly at the lease it is still live.
    problem = join_problem("b", 30.0, [other], now=100.0 + age, lease_seconds=LEASE)
    assert (problem is None) is stale
    if problem is not None:
        assert problem == ("bot 'b' runs max_total_at_risk_pct 30 but fleet member 'a' runs 25:"
                           " every bot of a fleet must use the same cap")


def test_the_snapshot_keys_positions_and_reservations_by_bot() -> None:
    members = [Member("a", 25.0, (Position("BTC/USD", 0.5, 200.0, 3.0),), 0.0)]
    held = [Reservation("b", "DOGE/USD", 30.0, expires_at=10.0),
            Reservation("b", "SOL/USD", 20.0, expires_at=5.0)]
    snap = fleet_snapshot(500.0, members, held, now=5.0)
    # A reservation holds stake, not coins: amount and mark 0, so nothing looks up or sells it.
    assert snap == Snapshot(500.0, (Position("a|BTC/USD", 0.5, 200.0, 3.0),
                                    Position("b|DOGE/USD#reserved", 0.0, 0.0, 30.0)))


def test_a_reservation_counts_toward_its_assets_cap() -> None:
    limits = ClusterLimits.from_definitions({}, {}, 5.0)
    snap = fleet_snapshot(1000.0, [], [Reservation("b", "DOGE/USD", 30.0, expires_at=10.0)],
                          now=0.0)
    measured = measure_clusters(snap, shipped_cap_policy(cluster_limits=limits))
    assert measured.assets["DOGE"].at_risk == 30.0


def test_reserve_honours_the_exchange_minimum() -> None:
    snap = fleet_snapshot(1000.0, [], [], now=0.0)
    decision, _ = reserve(snap, POLICY, CapState.ACTIVE, requested=0.5, min_stake=1.0,
                          max_stake=1e9)
    assert decision.stake is None
    assert decision.reason == "BELOW_MIN_STAKE: stake=0.5 min_stake=1 limited_by=proposed"


def test_reserve_refuses_while_the_fleet_is_reducing_under_the_cap() -> None:
    # 24 % at risk: under the 25 % cap, over the 23 % target; the fleet is still REDUCING.
    snap = fleet_snapshot(760.0, [Member("a", 25.0, (Position("BTC/USD", 240.0, 1.0),), 0.0)],
                          [], now=0.0)
    decision, exposure = reserve(snap, POLICY, CapState.REDUCING, requested=5.0, min_stake=1.0,
                                 max_stake=1e9)
    assert not exposure.over_cap
    assert decision.stake is None
    assert decision.reason == "FLEET_OVER_CAP: at_risk=24.0% cap=25.0% target=23.0%"


@pytest.mark.parametrize("bot, pair", [("a", "BTC/USD"), ("desk|1", "BTC/USD"),
                                       ("247 | main", "ETH/USDC:USDC")])
def test_a_key_splits_back_into_bot_and_pair(bot: str, pair: str) -> None:
    assert split_key(position_key(bot, pair)) == (bot, pair)


def test_a_bot_named_with_the_separator_gets_its_own_orders() -> None:
    orders = [TrimOrder("desk|1|BTC/USD", 10.0, 5.0, "r"), TrimOrder("b|ETH/USD", 4.0, 2.0, "r")]
    per_bot = split_round(orders)
    assert per_bot == {"desk|1": (TrimOrder("BTC/USD", 10.0, 5.0, "r"),),
                       "b": (TrimOrder("ETH/USD", 4.0, 2.0, "r"),)}
