"""Exposure and cluster-limit contract: the exact errors an operator reads for bad input, the
float tolerance, and the per-asset grouping of exchange symbols."""

from __future__ import annotations

import math

import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.cluster_limits import ClusterLimits
from trader247.core.exposure import (
    CapState,
    Position,
    Snapshot,
    clamp_entry_stake,
    measure,
    next_state,
)

POLICY = shipped_cap_policy()


# --- bad input, named -------------------------------------------------------------------------


@pytest.mark.parametrize("build, message", [
    (lambda: Position("A/USD", -1.0, 1.0), "A/USD: amount must be finite and >= 0, got -1.0"),
    (lambda: Position("A/USD", 1.0, math.inf), "A/USD: mark_price must be finite and >= 0, got inf"),
    (lambda: Position("A/USD", 1.0, 1.0, math.nan),
     "A/USD: open_entry_stake must be finite and >= 0, got nan"),
    (lambda: Snapshot(math.nan), "stake_balance must be finite, got nan"),
    (lambda: Snapshot(-math.inf), "stake_balance must be finite, got -inf"),
    (lambda: Snapshot(10.0, (), -1.0), "external_holdings_value must be finite and >= 0, got -1.0"),
    (lambda: Snapshot(10.0, (), math.inf),
     "external_holdings_value must be finite and >= 0, got inf"),
])
def test_bad_values_are_refused_naming_the_field(build: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        build()  # type: ignore[operator]
    assert str(info.value) == message


def test_a_negative_balance_is_a_value_not_an_error() -> None:
    assert Snapshot(-5.0).stake_balance == -5.0


# --- free balance, tolerance ------------------------------------------------------------------


def test_from_free_balance_keeps_external_holdings() -> None:
    positions = (Position("A/USD", 0.0, 1.0, open_entry_stake=10.0),)
    assert Snapshot.from_free_balance(90.0, positions).external_holdings_value == 0.0
    assert Snapshot.from_free_balance(90.0, positions, 25.0) == Snapshot(100.0, positions, 25.0)


@pytest.mark.parametrize("balance, held, tolerance", [
    (1e9 - 250.0, 250.0, 1.0),          # a billionth of equity
    (-2e9, 1e9, 1.0),                   # of at_risk when it is bigger than |equity|
])
def test_the_tolerance_is_a_billionth_of_the_larger_of_equity_and_at_risk(
        balance: float, held: float, tolerance: float) -> None:
    e = measure(Snapshot(balance, (Position("A/USD", held, 1.0),)), POLICY)
    assert e.tolerance == tolerance


def test_one_tolerance_over_the_cap_is_not_over_it() -> None:
    # Equity 1e9: cap 2.5e8, tolerance 1. Float noise up to the tolerance is not exposure.
    at = measure(Snapshot(1e9 - 250_000_001.0, (Position("A/USD", 250_000_001.0, 1.0),)), POLICY)
    over = measure(Snapshot(1e9 - 250_000_002.0, (Position("A/USD", 250_000_002.0, 1.0),)),
                   POLICY)
    assert (at.over_cap, over.over_cap) == (False, True)


# --- cluster limits ---------------------------------------------------------------------------


@pytest.mark.parametrize("pct", [0.01, 0.5, 1.0, 100.0])
def test_cluster_caps_accept_every_percentage_in_range(pct: float) -> None:
    limits = ClusterLimits.from_definitions({"MEME": ["DOGE"]}, {"MEME": pct}, pct)
    assert limits.cluster_caps == {"MEME": pct} and limits.asset_cap_pct == pct


@pytest.mark.parametrize("limits, enabled", [
    (ClusterLimits(), False),
    (ClusterLimits.from_definitions({"MEME": ["DOGE"]}, {}, None), False),
    (ClusterLimits.from_definitions({"MEME": ["DOGE"]}, {"MEME": 4.0}, None), True),
    (ClusterLimits.from_definitions({}, {}, 5.0), True),
])
def test_limits_are_off_only_with_neither_cap(limits: ClusterLimits, enabled: bool) -> None:
    assert limits.enabled is enabled


# --- policy ranges, the target and the entry gate at the float tolerance ----------------------


@pytest.mark.parametrize("changes", [
    {"max_total_at_risk_pct": 0.5, "trim_band_pct": 0.1},   # a cap under 1 %
    {"trim_timeout_seconds": 0.5},                          # a timeout under a second
])
def test_small_positive_settings_are_valid(changes: dict[str, float]) -> None:
    policy = shipped_cap_policy(**changes)
    assert all(getattr(policy, key) == value for key, value in changes.items())


def at_1e9(held: float) -> Snapshot:
    """Equity $1e9 (tolerance $1, target 23 % = $230M) with ``held`` at risk."""
    return Snapshot(1e9 - held, (Position("A/USD", held, 1.0),))


@pytest.mark.parametrize("held, at_target, excess, state", [
    (230_000_001.0, True, 0.0, CapState.ACTIVE),      # the target plus the tolerance: there
    (230_000_002.0, False, 2.0, CapState.REDUCING),   # a dollar more: 2 over the target
    (100_000_000.0, True, 0.0, CapState.ACTIVE),      # far under: nothing to sell
])
def test_the_target_within_the_tolerance(held: float, at_target: bool, excess: float,
                                         state: CapState) -> None:
    e = measure(at_1e9(held), POLICY)
    assert (e.at_or_below_target, e.excess_over_target) == (at_target, excess)
    assert next_state(CapState.REDUCING, e, POLICY) is state


@pytest.mark.parametrize("held, proposed, stake, reason", [
    # $0.50 of room is float noise (<= the $1 tolerance): no room, reported as 0
    (229_999_999.5, 50.0, None, "BELOW_MIN_STAKE: stake=0 min_stake=0 limited_by=headroom"),
    (229_999_999.0, 50.0, None, "BELOW_MIN_STAKE: stake=0 min_stake=0 limited_by=headroom"),
    (229_999_998.0, 50.0, 2.0, "ENTRY_CLAMPED: stake=2 proposed=50 limited_by=headroom"),
    # a proposed stake under the tolerance is the strategy's, not noise: entered as asked
    (100_000_000.0, 0.5, 0.5, "ENTRY_OK: stake=0.5"),
])
def test_the_entry_gate_at_the_tolerance(held: float, proposed: float, stake: float | None,
                                         reason: str) -> None:
    decision = clamp_entry_stake(proposed, measure(at_1e9(held), POLICY), CapState.ACTIVE,
                                 min_stake=None, max_stake=1e9)
    assert (decision.stake, decision.reason) == (stake, reason)
