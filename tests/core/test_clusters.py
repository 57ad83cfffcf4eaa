"""Per-cluster and per-asset caps: boundaries at the cap, one cent over, proportional trims."""

from __future__ import annotations

import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.clusters import (
    ClusterLimits,
    entry_headroom,
    measure_clusters,
)
from trader247.core.exposure import Position, Snapshot, measure
from trader247.core.trims import TrimPlan, TrimState, plan_trims

DEFINITIONS = {"MEME": ["DOGE-USD", "SHIB", "PEPE/USD"], "LAYER1": ["BTC", "ETH", "SOL"]}
LIMITS = ClusterLimits.from_definitions(DEFINITIONS, {"MEME": 4.0, "LAYER1": 10.0}, 5.0)
# The shipped cap (25 %, band 2: target 23 %) with MEME 4 %, LAYER1 10 %, every asset 5 %.
POLICY = shipped_cap_policy(cluster_limits=LIMITS)


def snapshot(cash: float, **values: float) -> Snapshot:
    """Positions at a mark of 1.0: ``DOGE=30`` is DOGE/USD worth $30."""
    return Snapshot(cash, tuple(Position(f"{base}/USD", v, 1.0) for base, v in values.items()))


def test_shipped_policy_is_the_25_percent_cap() -> None:
    assert (POLICY.max_total_at_risk_pct, POLICY.target_pct) == (25.0, 23.0)


# Equity 1000: MEME cap 4 % = $40.00, asset cap 5 % = $50.00.
@pytest.mark.parametrize("doge, over", [
    (39.99, False), (40.00, False), (40.01, True)])
def test_cluster_over_cap_only_strictly_above_it(doge: float, over: bool) -> None:
    measured = measure_clusters(snapshot(1000 - doge, DOGE=doge), POLICY, LIMITS)
    meme = measured.clusters["MEME"]
    assert meme.cap_value == pytest.approx(40.0)
    assert meme.over_cap is over
    assert (meme in measured.over_cap) is over


@pytest.mark.parametrize("btc, over", [(49.99, False), (50.00, False), (50.01, True)])
def test_asset_over_cap_only_strictly_above_it(btc: float, over: bool) -> None:
    measured = measure_clusters(snapshot(1000 - btc, BTC=btc), POLICY, LIMITS)
    assert measured.assets["BTC"].over_cap is over
    assert measured.clusters["LAYER1"].over_cap is False  # 10 % = $100


def test_cluster_at_risk_uses_measures_terms_and_equity() -> None:
    positions = (Position("DOGE/USD", 20.0, 1.5), Position("DOGE/USDC", 0.0, 1.0, 5.0),
                 Position("SHIB/USD", 10.0, 1.0))
    snap = Snapshot(1000.0, positions)
    measured = measure_clusters(snap, POLICY, LIMITS)
    exposure = measure(snap, POLICY)
    meme = measured.clusters["MEME"]
    assert meme.at_risk == 30.0 + 5.0 + 10.0  # value + open entry stake, every quote
    assert meme.held == 40.0
    assert measured.exposure == exposure
    assert meme.at_risk_pct == pytest.approx(45.0 / exposure.equity * 100)
    assert measured.assets["DOGE"].pairs == ("DOGE/USD", "DOGE/USDC")


def test_capped_clusters_exist_at_zero_and_uncapped_ones_are_not_measured() -> None:
    limits = ClusterLimits.from_definitions(DEFINITIONS, {"MEME": 4.0}, None)
    measured = measure_clusters(snapshot(1000.0, BTC=100.0), POLICY, limits)
    assert set(measured.clusters) == {"MEME"}
    assert measured.clusters["MEME"].at_risk == 0.0
    assert measured.assets == {}


def test_reason_names_the_limit() -> None:
    measured = measure_clusters(snapshot(949.0, DOGE=51.0), POLICY, LIMITS)
    assert measured.clusters["MEME"].over_cap_reason() == (
        "CLUSTER_OVER_CAP: cluster=MEME at_risk=5.1% cap=4.0%")
    assert measured.assets["DOGE"].over_cap_reason() == (
        "ASSET_OVER_CAP: asset=DOGE at_risk=5.1% cap=5.0%")


# ------------------------------------------------------------------------------ entries


@pytest.mark.parametrize("held, pair, headroom, limited_by", [
    # Targets scale with the total's 23/25: MEME 4 % -> $36.80, asset 5 % -> $46.00.
    ({}, "DOGE/USD", 36.80, "cluster=MEME"),
    ({"SHIB": 30.0}, "DOGE/USD", 6.80, "cluster=MEME"),
    ({}, "BTC/USD", 46.00, "asset=BTC"),
    ({"ETH": 60.0}, "BTC/USD", 32.00, "cluster=LAYER1"),  # LAYER1 target $92
    ({}, "XRP/USD", 46.00, "asset=XRP"),  # no cluster: the asset cap still applies
])
def test_entry_headroom_is_the_smallest_of_total_cluster_asset(
    held: dict[str, float], pair: str, headroom: float, limited_by: str
) -> None:
    snap = snapshot(1000.0 - sum(held.values()), **held)
    result = entry_headroom(pair, measure_clusters(snap, POLICY, LIMITS), LIMITS, POLICY)
    assert result.headroom == pytest.approx(headroom)
    assert result.limited_by == limited_by
    assert result.allowed


def test_entry_headroom_total_binds_when_the_book_is_full() -> None:
    # $225 held outside any cluster: total target $230 leaves $5.
    snap = snapshot(775.0, XRP=45.0, ADA=45.0, LINK=45.0, DOT=45.0, LTC=45.0)
    result = entry_headroom("DOGE/USD", measure_clusters(snap, POLICY, LIMITS), LIMITS, POLICY)
    assert result.headroom == pytest.approx(5.0)
    assert result.limited_by == "total"


@pytest.mark.parametrize("doge, allowed", [(36.80, False), (36.79, True), (40.01, False)])
def test_entry_into_a_full_or_over_cap_cluster_is_refused(doge: float, allowed: bool) -> None:
    measured = measure_clusters(snapshot(1000.0 - doge, DOGE=doge), POLICY, LIMITS)
    result = entry_headroom("PEPE/USD", measured, LIMITS, POLICY)
    assert result.allowed is allowed
    if doge > 40.0:
        assert result.reason == "CLUSTER_OVER_CAP: cluster=MEME at_risk=4.0% cap=4.0%"
        assert result.headroom <= 0


def test_total_over_its_cap_refuses_with_the_total_caps_reason() -> None:
    snap = snapshot(740.0, XRP=130.0, ADA=130.0)  # 26 % of $1000
    result = entry_headroom("DOGE/USD", measure_clusters(snap, POLICY, LIMITS), LIMITS, POLICY)
    assert not result.allowed
    assert result.reason == "EXPOSURE_OVER_CAP: at_risk=26.0% cap=25.0% target=23.0%"


def test_no_limits_leave_the_total_cap_alone() -> None:
    limits = ClusterLimits()
    measured = measure_clusters(snapshot(900.0, DOGE=100.0), POLICY, limits)
    result = entry_headroom("DOGE/USD", measured, limits, POLICY)
    assert not limits.enabled
    assert result.limited_by == "total"
    assert result.headroom == pytest.approx(130.0)


# ------------------------------------------------------------------------------ trims


def trim(snap: Snapshot, min_stake: float | dict[str, float] = 1.0) -> TrimPlan:
    """The running planner's first evaluation (the cluster cuts live in ``plan_trims``)."""
    return plan_trims(snap, POLICY, min_stake=min_stake, state=TrimState(), cycle=1, now=1.0)


def test_over_cap_cluster_is_trimmed_proportionally_inside_the_cluster_only() -> None:
    # Equity 1000, MEME $60 (6 %) over its 4 % cap: back to its target $36.80.
    plan = trim(snapshot(895.0, DOGE=40.0, SHIB=20.0, BTC=45.0))
    sold = {o.pair: o.stake_to_sell for o in plan.orders}
    assert set(sold) == {"DOGE/USD", "SHIB/USD"}  # BTC (LAYER1, under its caps) untouched
    assert sum(sold.values()) == pytest.approx(60.0 - 36.80)
    ratio = (60.0 - 36.80) / 60.0
    assert sold["DOGE/USD"] == pytest.approx(40.0 * ratio)
    assert sold["SHIB/USD"] == pytest.approx(20.0 * ratio)
    assert [g.over_cap_reason() for g in plan.reducing_clusters] == [
        "CLUSTER_OVER_CAP: cluster=MEME at_risk=6.0% cap=4.0%"]


@pytest.mark.parametrize("doge, orders", [(40.00, 0), (40.01, 1)])
def test_trim_starts_one_cent_over_the_cap(doge: float, orders: int) -> None:
    plan = trim(snapshot(1000.0 - doge, DOGE=doge), min_stake=0.01)
    assert len(plan.orders) == orders


def test_asset_cap_trims_what_the_cluster_cut_leaves_in_one_order_per_pair() -> None:
    # DOGE $70 of MEME $80: the cluster cut leaves DOGE at 70 x 36.8/80 = $32.20, under the
    # asset target $46; BTC $60 over its $50 asset cap is cut to $46 on its own.
    plan = trim(snapshot(860.0, DOGE=70.0, SHIB=10.0, BTC=60.0))
    sold = {o.pair: o.stake_to_sell for o in plan.orders}
    assert sold["DOGE/USD"] == pytest.approx(70.0 * (80.0 - 36.8) / 80.0)
    assert sold["BTC/USD"] == pytest.approx(60.0 - 46.0)
    assert len(plan.orders) == len(sold) == 3
    limits = {o.pair: o.limits for o in plan.orders}
    assert limits == {"DOGE/USD": ("cluster=MEME",), "SHIB/USD": ("cluster=MEME",),
                      "BTC/USD": ("asset=BTC",)}


def test_exchange_minimum_raises_small_cuts_and_turns_small_rests_into_full_exits() -> None:
    snap = snapshot(875.0, DOGE=80.0, SHIB=4.0, PEPE=1.0, BTC=40.0)  # equity 1000
    plan = trim(snap, min_stake={"DOGE/USD": 5.0, "SHIB/USD": 3.0, "PEPE/USD": 2.0,
                                 "BTC/USD": 1.0})
    orders = {o.pair: o for o in plan.orders}
    assert "PEPE/USD" not in orders  # worth $1 < its $2 minimum: dust, the others cover it
    # MEME's $48.20 over its target comes from DOGE and SHIB at 48.2 / 84 each.
    assert orders["SHIB/USD"].full_exit  # a $2.30 cut leaves $1.70 < $3: sold in full
    assert orders["SHIB/USD"].stake_to_sell == pytest.approx(4.0)
    assert not orders["DOGE/USD"].full_exit
    assert orders["DOGE/USD"].stake_to_sell == pytest.approx(80.0 * 48.2 / 84.0)


def test_limits_are_checked_at_construction() -> None:
    with pytest.raises(ValueError, match="asset DOGE is in clusters MEME and OTHER"):
        ClusterLimits.from_definitions({"MEME": ["DOGE"], "OTHER": ["DOGE-USD"]}, {}, None)
    with pytest.raises(ValueError, match="cluster cap L2 names a cluster with no assets"):
        ClusterLimits.from_definitions(DEFINITIONS, {"L2": 10.0}, None)
