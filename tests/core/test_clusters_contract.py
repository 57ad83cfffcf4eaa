"""Cluster and asset caps contract: cluster percentages at any equity, the status an operator
reads, what entry_headroom answers, the gate with the limits off and on, cluster trims' episodes."""

from __future__ import annotations

import math

import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.clusters import (
    ClusterCuts,
    ClusterExposure,
    ClusterLimits,
    cluster_cuts,
    entry_headroom,
    fit_cut,
    gate_entry,
    measure_clusters,
)
from trader247.core.exposure import CapState, Position, Snapshot
from trader247.core.trims import OpenTrim, TrimPlan, TrimState, plan_trims

DEFINITIONS = {"MEME": ["DOGE", "SHIB", "PEPE"], "LAYER1": ["BTC", "ETH", "SOL"]}
LIMITS = ClusterLimits.from_definitions(DEFINITIONS, {"MEME": 4.0, "LAYER1": 10.0}, 5.0)
# Shipped cap (25 %, target 23 %) with MEME 4 % (target 3.68 %), LAYER1 10 %, every asset 5 %.
POLICY = shipped_cap_policy(cluster_limits=LIMITS)
MEME_ONLY = shipped_cap_policy(cluster_limits=ClusterLimits.from_definitions(DEFINITIONS, {"MEME": 4.0},
                                                                   None))


def book(cash: float, **values: float) -> Snapshot:
    return Snapshot(cash, tuple(Position(f"{b}/USD", v, 1.0) for b, v in values.items()))


# --- measuring --------------------------------------------------------------------------------


def test_a_book_worth_less_than_one_unit_has_its_caps_in_proportion() -> None:
    # BTC-denominated account: equity 0.5 BTC, DOGE worth 0.03 BTC.
    measured = measure_clusters(book(0.47, DOGE=0.03), POLICY)
    meme = measured.clusters["MEME"]
    assert meme.cap_value == pytest.approx(0.02)
    assert meme.target_value == pytest.approx(0.0184)
    assert meme.at_risk_pct == pytest.approx(6.0)
    assert meme.over_cap


@pytest.mark.parametrize("cash, doge, pct", [
    (0.5, 0.5, 50.0),       # equity 1: an ordinary percentage
    (0.25, 0.25, 50.0),     # equity 0.5
    (-1.0, 1.0, math.inf),  # equity 0 with a holding: over every cap
    (-2.0, 1.0, math.inf),  # negative equity
    (-1.0, 0.0, 0.0),       # nothing held, no equity: 0
    (0.0, 0.0, 0.0),
])
def test_cluster_percentage_at_any_equity(cash: float, doge: float, pct: float) -> None:
    measured = measure_clusters(book(cash, DOGE=doge), POLICY)
    assert measured.clusters["MEME"].at_risk_pct == pct
    assert measured.clusters["LAYER1"].at_risk_pct == 0.0


def test_status_under_the_cap_names_the_target() -> None:
    measured = measure_clusters(book(952.0, DOGE=48.0), POLICY)  # asset 4.8 %: cap 5, target 4.6
    assert measured.assets["DOGE"].status_reason() == (
        "ASSET_ABOVE_TARGET: asset=DOGE at_risk=4.8% cap=5.0% target=4.6%")
    assert measured.clusters["MEME"].status_reason() == (
        "CLUSTER_OVER_CAP: cluster=MEME at_risk=4.8% cap=4.0%")


def test_status_with_no_equity_has_a_zero_target() -> None:
    meme = measure_clusters(book(0.0), POLICY).clusters["MEME"]
    assert meme.status_reason() == (
        "CLUSTER_ABOVE_TARGET: cluster=MEME at_risk=0.0% cap=4.0% target=0.0%")


# --- entry headroom and the gate ----------------------------------------------------------------


def test_over_the_total_cap_the_total_binds_with_its_negative_room() -> None:
    result = entry_headroom("DOGE/USD", measure_clusters(book(740.0, XRP=260.0), POLICY), LIMITS,
                            POLICY)
    assert (result.pair, result.limited_by) == ("DOGE/USD", "total")
    assert result.headroom == pytest.approx(230.0 - 260.0)


def test_a_cluster_over_its_cap_names_itself_with_its_negative_room() -> None:
    result = entry_headroom("SHIB/USD", measure_clusters(book(950.0, DOGE=50.0), POLICY), LIMITS,
                            POLICY)
    assert (result.pair, result.limited_by) == ("SHIB/USD", "cluster=MEME")
    assert result.headroom == pytest.approx(36.8 - 50.0)
    assert not result.allowed


def test_headroom_names_the_pair() -> None:
    result = entry_headroom("XRP/USD", measure_clusters(book(1000.0), POLICY), LIMITS, POLICY)
    assert result.pair == "XRP/USD"
    assert result.reason == "ENTRY_HEADROOM: pair=XRP/USD headroom=46 limited_by=asset=XRP"


@pytest.mark.parametrize("policy", [shipped_cap_policy(), POLICY], ids=["off", "on"])
def test_the_gate_refuses_while_reducing_under_the_cap(policy: object) -> None:
    s = book(760.0, XRP=240.0)  # 24 %: under the cap, over the target
    decision = gate_entry("ADA/USD", 1.0, s, policy, CapState.REDUCING,  # type: ignore[arg-type]
                          min_stake=None, max_stake=1e9)
    assert decision.stake is None
    assert decision.reason == "EXPOSURE_OVER_CAP: at_risk=24.0% cap=25.0% target=23.0%"


@pytest.mark.parametrize("policy", [shipped_cap_policy(), POLICY], ids=["off", "on"])
def test_the_gate_honours_the_exchange_minimum(policy: object) -> None:
    decision = gate_entry("ADA/USD", 2.0, book(1000.0), policy,  # type: ignore[arg-type]
                          CapState.ACTIVE, min_stake=3.0, max_stake=1e9)
    assert decision.stake is None
    assert decision.reason == "BELOW_MIN_STAKE: stake=2 min_stake=3 limited_by=proposed"


def test_the_gate_clamps_to_a_clusters_room() -> None:
    decision = gate_entry("DOGE/USD", 50.0, book(1000.0), POLICY, CapState.ACTIVE,
                          min_stake=1.0, max_stake=1e9)
    assert decision.stake == pytest.approx(36.8)
    assert decision.reason == "ENTRY_CLAMPED: stake=36.8 proposed=50 limited_by=cluster=MEME"


# --- cluster trims ------------------------------------------------------------------------------


def evaluate(s: Snapshot, *, state: TrimState | None = None, cycle: int = 1) -> TrimPlan:
    return plan_trims(s, MEME_ONLY, min_stake=1.0, state=state or TrimState(), cycle=cycle,
                      now=float(cycle))


def test_a_cluster_over_its_cap_is_cut_after_one_at_its_target() -> None:
    # LAYER1 (first by name) at its target, MEME over: MEME is still cut.
    limits = ClusterLimits.from_definitions(DEFINITIONS, {"MEME": 4.0, "LAYER1": 10.0}, None)
    plan = plan_trims(book(850.0, BTC=90.0, DOGE=60.0), shipped_cap_policy(cluster_limits=limits),
                      min_stake=1.0, state=TrimState(), cycle=1, now=1.0)
    assert {o.pair: o.stake_to_sell for o in plan.orders} == {
        "DOGE/USD": pytest.approx(60.0 - 36.8)}


def test_cluster_pairs_cut_this_episode_sit_out_while_the_rest_covers() -> None:
    # MEME in its episode; DOGE was cut already. SHIB and PEPE cover the $13.20 over target.
    state = TrimState(reducing_clusters=frozenset({"cluster=MEME"}),
                      episode_trimmed=frozenset({"DOGE/USD"}), last_cycle=0, started=True)
    plan = evaluate(book(950.0, DOGE=20.0, SHIB=20.0, PEPE=10.0), state=state)
    assert {o.pair: o.stake_to_sell for o in plan.orders} == {
        "SHIB/USD": pytest.approx(13.2 * 20 / 30), "PEPE/USD": pytest.approx(13.2 * 10 / 30)}
    assert plan.trim_state.episode_trimmed == frozenset({"DOGE/USD"})


def test_when_the_rest_of_the_cluster_cannot_cover_every_pair_is_cut_again() -> None:
    state = TrimState(reducing_clusters=frozenset({"cluster=MEME"}),
                      episode_trimmed=frozenset({"DOGE/USD"}), last_cycle=0, started=True)
    plan = evaluate(book(950.0, DOGE=45.0, SHIB=5.0), state=state)
    assert {o.pair: o.stake_to_sell for o in plan.orders} == {
        "DOGE/USD": pytest.approx(13.2 * 45 / 50), "SHIB/USD": pytest.approx(13.2 * 5 / 50)}
    assert plan.trim_state.episode_trimmed == frozenset()


def test_a_cluster_order_reason_names_its_share_and_the_full_exit() -> None:
    # MEME $60: $23.20 over its target. SHIB's $0.58 cut is raised to the $1 minimum, which
    # would leave $0.50: sold in full.
    plan = evaluate(book(940.0, DOGE=58.5, SHIB=1.5))
    reasons = {o.pair: o.reason for o in plan.orders}
    share = 23.2 / 60
    assert reasons == {
        "DOGE/USD": f"TRIM_CLUSTER: pair=DOGE/USD cluster=MEME share={share:.4f} "
                    f"stake={58.5 * share:.10g} min_stake=1",
        "SHIB/USD": "TRIM_CLUSTER: pair=SHIB/USD cluster=MEME share=1.0000 stake=1.5 min_stake=1 "
                    "full_exit=1",
    }
    shib = next(o for o in plan.orders if o.pair == "SHIB/USD")
    assert shib.full_exit and shib.amount == 1.5


def test_a_pair_cut_by_two_limits_names_both() -> None:
    limits = ClusterLimits.from_definitions(DEFINITIONS, {"MEME": 8.0}, 5.0)
    policy = shipped_cap_policy(cluster_limits=limits)
    # MEME $100 over its $80 cap (target $73.60); DOGE $90 over its $50 asset cap too.
    plan = plan_trims(book(900.0, DOGE=90.0, SHIB=10.0), policy, min_stake=1.0,
                      state=TrimState(), cycle=1, now=1.0)
    doge = next(o for o in plan.orders if o.pair == "DOGE/USD")
    assert doge.limits == ("cluster=MEME", "asset=DOGE")
    assert doge.reason.startswith("TRIM_CLUSTER: pair=DOGE/USD cluster=MEME asset=DOGE share=")
    # Cluster cut first (26.4 %: DOGE to $66.24), then the asset cut takes DOGE to $46.
    assert doge.stake_to_sell == pytest.approx(90.0 - 46.0)


def test_a_cluster_full_exit_sells_the_whole_amount() -> None:
    # SHIB: 0.1 at 3.0 (worth 0.30000000000000004); its cut is raised to the 0.2 minimum and
    # would leave less than that: sold in full, the amount held, not stake / mark.
    s = Snapshot(940.0, (Position("DOGE/USD", 58.5, 1.0), Position("SHIB/USD", 0.1, 3.0)))
    plan = plan_trims(s, MEME_ONLY, min_stake=0.2, state=TrimState(), cycle=1, now=1.0)
    shib = next(o for o in plan.orders if o.pair == "SHIB/USD")
    assert shib.full_exit and shib.amount == 0.1


def test_the_totals_excess_is_taken_from_what_the_cluster_cut_leaves() -> None:
    # Total 28 % (cap 25, target 23: $50 to sell); MEME $60 ($23.20 over its target).
    plan = evaluate(book(720.0, DOGE=60.0, XRP=110.0, ADA=110.0))
    rest = 26.8 / (36.8 + 110.0 + 110.0)  # the total's share of what MEME's cut leaves
    assert {o.pair: o.stake_to_sell for o in plan.orders} == {
        "DOGE/USD": pytest.approx(23.2 + 36.8 * rest),
        "XRP/USD": pytest.approx(110.0 * rest), "ADA/USD": pytest.approx(110.0 * rest)}
    assert {o.pair: o.limits for o in plan.orders} == {
        "DOGE/USD": ("cluster=MEME", "total"), "XRP/USD": ("total",), "ADA/USD": ("total",)}


def test_a_pair_the_cluster_sells_whole_is_not_offered_to_the_total_again() -> None:
    # MEME $50: SHIB ($40) is dust, so DOGE ($10) is sold whole for MEME. The total ($120.50 over
    # its target) has only ADA ($0.50) left: XRP is dust too. DOGE answers MEME alone.
    s = book(649.5, DOGE=10.0, SHIB=40.0, XRP=300.0, ADA=0.5)
    plan = plan_trims(s, MEME_ONLY, min_stake={"DOGE/USD": 1.0, "SHIB/USD": 100.0,
                                                "XRP/USD": 1000.0, "ADA/USD": 0.1},
                      state=TrimState(), cycle=1, now=1.0)
    assert plan.to_trim == pytest.approx(120.5)
    assert [(o.pair, o.stake_to_sell, o.full_exit, o.limits) for o in plan.orders] == [
        ("DOGE/USD", 10.0, True, ("cluster=MEME",)), ("ADA/USD", 0.5, True, ("total",))]
    assert plan.orders[1].reason == (
        "TRIM_CLUSTER: pair=ADA/USD total share=1.0000 stake=0.5 min_stake=0.1 full_exit=1")


def test_a_cluster_selling_a_whole_position_without_a_minimum_exits_it_fully() -> None:
    # PEPE sits out (rejected): DOGE ($10, 10/3 at $3) is all MEME can sell of its $23.20 over
    # the target. Sold whole with no exchange minimum: the amount held, a full exit.
    s = Snapshot(940.0, (Position("DOGE/USD", 10 / 3, 3.0), Position("PEPE/USD", 50.0, 1.0)))
    state = TrimState(episode_rejected=frozenset({"PEPE/USD"}), last_cycle=0, started=True)
    plan = plan_trims(s, MEME_ONLY, min_stake=0.0, state=state, cycle=1, now=1.0)
    assert [(o.pair, o.stake_to_sell, o.amount, o.full_exit) for o in plan.orders] == [
        ("DOGE/USD", 10.0, 10 / 3, True)]
    assert plan.orders[0].reason == (
        "TRIM_CLUSTER: pair=DOGE/USD cluster=MEME share=1.0000 stake=10 min_stake=0 full_exit=1")


# --- cluster_cuts on its own: clusters in order, what earlier ones sold, the sit-out rule ------


def capped(key: str, at_risk: float, target: float, pairs: tuple[str, ...],
          tolerance: float = 0.0) -> ClusterExposure:
    """A cluster needing ``at_risk - target`` sold (its cap is the target: only the excess is
    read by cluster_cuts)."""
    kind, name = key.split("=")
    return ClusterExposure(kind, name, at_risk, at_risk, 0.0, 0.0, target,
                         target, tolerance, pairs)


def test_an_asset_is_cut_from_what_its_cluster_cut_left() -> None:
    # The cluster sells 20 % of A and B (10 each); the asset's $20 is then split over A's $40
    # left and C's $30.
    cuts = cluster_cuts((capped("cluster=X", 100.0, 80.0, ("A", "B")),
                       capped("asset=Y", 80.0, 50.0, ("A", "C"))),
                      {"A": 50.0, "B": 50.0, "C": 30.0})
    assert cuts.sold == pytest.approx({"A": 10.0 + 20.0 * 40 / 70, "B": 10.0,
                                       "C": 20.0 * 30 / 70})
    assert cuts == ClusterCuts(cuts.sold, {"A": ("cluster=X", "asset=Y"), "B": ("cluster=X",),
                                         "C": ("asset=Y",)}, False)


def test_a_pair_an_earlier_cluster_sold_whole_is_not_named_by_the_next() -> None:
    # X needs $110 of its $100 tradeable (entries of $50 pending elsewhere): A and B sold whole.
    # Y still needs $30 after A's $50: all from C, and A does not answer Y.
    cuts = cluster_cuts((capped("cluster=X", 150.0, 40.0, ("A", "B")),
                       capped("asset=Y", 100.0, 20.0, ("A", "C"))),
                      {"A": 50.0, "B": 50.0, "C": 50.0})
    assert cuts == ClusterCuts({"A": 50.0, "B": 50.0, "C": 30.0},
                             {"A": ("cluster=X",), "B": ("cluster=X",), "C": ("asset=Y",)}, False)


@pytest.mark.parametrize("excess, tolerance", [(1.0, 1.0), (0.0, 0.0)])
def test_a_cluster_within_its_tolerance_is_skipped_and_the_next_still_cut(
        excess: float, tolerance: float) -> None:
    cuts = cluster_cuts((capped("cluster=X", 50.0 + excess, 50.0, ("A",), tolerance),
                       capped("cluster=Z", 40.0, 30.0, ("B",), tolerance)),
                      {"A": 50.0 + excess, "B": 40.0})
    assert cuts == ClusterCuts({"B": 10.0}, {"B": ("cluster=Z",)}, False)


def test_a_cluster_with_nothing_tradeable_is_skipped_and_the_next_still_cut() -> None:
    # X's only pair has an open trim (not in values): nothing to cut, no division by zero.
    cuts = cluster_cuts((capped("cluster=X", 60.0, 40.0, ("A",)),
                       capped("cluster=Z", 0.5, 0.3, ("B",))),  # a book worth less than 1
                      {"B": 0.5})
    assert cuts == ClusterCuts({"B": pytest.approx(0.2)}, {"B": ("cluster=Z",)}, False)


@pytest.mark.parametrize("pool, reset", [
    (20.0, False),   # the pairs not sitting out cover the excess to its tolerance: kept
    (19.99, True),   # a cent short: every pair is cut again
])
def test_the_sit_out_holds_while_the_rest_covers_to_the_tolerance(pool: float,
                                                                  reset: bool) -> None:
    # $21 over, tolerance $1: A (not cut yet this episode) covers it at $20.
    cuts = cluster_cuts((capped("cluster=X", 71.0, 50.0, ("A", "B"), tolerance=1.0),),
                      {"A": pool, "B": 51.0 - pool}, sit_out=frozenset({"B"}))
    assert cuts.reset is reset
    assert set(cuts.sold) == ({"A", "B"} if reset else {"A"})


def test_no_reset_when_no_pair_sits_out_even_if_the_cluster_cannot_cover() -> None:
    # $50 over with $10 tradeable: all of it sold; nothing sat out, so nothing was reset.
    cuts = cluster_cuts((capped("cluster=X", 50.0, 0.0, ("A",)),), {"A": 10.0})
    assert cuts == ClusterCuts({"A": 10.0}, {"A": ("cluster=X",)}, False)


@pytest.mark.parametrize("doge, reducing", [
    (36_800_001.0, False),  # MEME at its target ($36.8M of $1e9) plus the $1 tolerance: done
    (36_800_002.0, True),   # a dollar more: still trimmed
])
def test_a_cluster_leaves_its_episode_at_its_target_within_the_tolerance(doge: float,
                                                                        reducing: bool) -> None:
    state = TrimState(reducing_clusters=frozenset({"cluster=MEME"}), last_cycle=0, started=True)
    plan = evaluate(book(1e9 - doge, DOGE=doge), state=state)
    meme = plan.clusters.clusters["MEME"] if plan.clusters else None
    assert meme is not None and meme.at_or_below_target is not reducing
    assert plan.trim_state.reducing_clusters == (frozenset({"cluster=MEME"}) if reducing
                                               else frozenset())
    assert plan.summary.startswith("TRIM_ROUND" if reducing else "CAP_OK: ")


@pytest.mark.parametrize("want, minimum, fitted", [
    (9.0, 1.0, (9.0, False)),    # leaves exactly the minimum: a partial exit
    (9.5, 1.0, (10.0, True)),    # would leave less than the minimum: the whole position
    (0.5, 1.0, (1.0, False)),    # under the minimum: raised to it
    (10.0, 0.0, (10.0, True)),   # the whole position with no minimum: a full exit
    (12.0, 0.0, (10.0, True)),   # more than held: the whole position
])
def test_fit_cut_boundaries_on_a_ten_dollar_position(want: float, minimum: float,
                                                      fitted: tuple[float, bool]) -> None:
    assert fit_cut(10.0, want, minimum) == fitted


def test_a_cluster_trim_in_a_book_worth_less_than_one_unit_sells_only_the_clusters_excess() -> None:
    # BTC-quoted: equity 0.5, DOGE 0.03 (MEME cap 0.02, target 0.0184). The total is under its
    # cap: only MEME's 0.0116 is to sell (no total share is added).
    plan = plan_trims(book(0.47, DOGE=0.03), MEME_ONLY, min_stake=0.0001, state=TrimState(),
                      cycle=1, now=1.0)
    assert plan.state is CapState.ACTIVE
    assert plan.to_trim == pytest.approx(0.0116)
    assert [(o.pair, o.limits) for o in plan.orders] == [("DOGE/USD", ("cluster=MEME",))]
    assert plan.orders[0].stake_to_sell == pytest.approx(0.0116)


def test_an_open_trim_in_a_cluster_is_deducted_from_what_the_cluster_still_needs() -> None:
    # MEME $60, $23.20 over its target; DOGE's open trim of $10 is on its way out: $13.20 is
    # left to sell, all from SHIB (DOGE has its trim open).
    state = TrimState(reducing_clusters=frozenset({"cluster=MEME"}), last_cycle=0, started=True,
                      open_trims={"DOGE/USD": OpenTrim(1.0, 10.0, 0)})
    plan = evaluate(book(940.0, DOGE=30.0, SHIB=30.0), state=state)
    assert plan.to_trim == pytest.approx(13.2)
    assert [(o.pair, o.stake_to_sell) for o in plan.orders] == [
        ("SHIB/USD", pytest.approx(13.2))]


def test_a_cluster_entering_its_episode_makes_every_pair_eligible_again() -> None:
    # DOGE was cut in an earlier episode; MEME now goes over its cap ($60, $23.20 over its
    # target): a new episode, DOGE and SHIB are cut alike.
    state = TrimState(episode_trimmed=frozenset({"DOGE/USD"}), last_cycle=0, started=True)
    plan = evaluate(book(940.0, DOGE=30.0, SHIB=30.0), state=state)
    assert plan.trim_state.reducing_clusters == frozenset({"cluster=MEME"})
    assert {o.pair: o.stake_to_sell for o in plan.orders} == {
        "DOGE/USD": pytest.approx(11.6), "SHIB/USD": pytest.approx(11.6)}
    assert plan.trim_state.episode_trimmed == frozenset()


def test_a_cluster_leaving_its_episode_keeps_the_totals_sit_out() -> None:
    # MEME is back at its target and leaves; the total ($80 over) is still in its episode, in
    # which XRP was cut: XRP sits out, DOGE and ADA cover the $80 at the same ratio (0.5).
    state = TrimState(cap_state=CapState.REDUCING, reducing_clusters=frozenset({"cluster=MEME"}),
                      episode_trimmed=frozenset({"XRP/USD"}), last_cycle=0, started=True)
    plan = evaluate(book(690.0, DOGE=10.0, XRP=150.0, ADA=150.0), state=state)
    assert plan.trim_state.reducing_clusters == frozenset()
    assert {o.pair: o.stake_to_sell for o in plan.orders} == {
        "ADA/USD": pytest.approx(75.0), "DOGE/USD": pytest.approx(5.0)}
    assert plan.trim_state.episode_trimmed == frozenset({"XRP/USD"})


def test_when_the_rest_cannot_cover_the_totals_share_its_episode_starts_over() -> None:
    # MEME (in its episode) sells DOGE's $8.20 over its target; the total still needs $46.80,
    # more than DOGE's $36.80 left outside the sit-out (XRP and ADA were cut this episode):
    # every pair is cut again and the episode's record starts over.
    state = TrimState(cap_state=CapState.REDUCING, reducing_clusters=frozenset({"cluster=MEME"}),
                      episode_trimmed=frozenset({"XRP/USD", "ADA/USD"}), last_cycle=0,
                      started=True)
    plan = evaluate(book(715.0, DOGE=45.0, XRP=120.0, ADA=120.0), state=state)
    assert {o.pair for o in plan.orders} == {"DOGE/USD", "XRP/USD", "ADA/USD"}
    assert plan.trim_state.episode_trimmed == frozenset()
