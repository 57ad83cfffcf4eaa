"""One exposure definition for gate, trimmer, protection and metrics; boundaries at the cap/band."""

from __future__ import annotations

import math

import pytest
from tests.shipped import shipped_cap_policy

from trader247.core.exposure import (
    CapState,
    Exposure,
    Position,
    Snapshot,
    clamp_entry_stake,
    format_stake,
    measure,
    next_state,
)

POLICY = shipped_cap_policy()  # config/policy.yaml: cap 25 %, band 2 % -> target 23 %


def snap(balance: float, *values: float, entry: float = 0.0, external: float = 0.0) -> Snapshot:
    positions = [Position(f"P{i}/USD", v, 1.0) for i, v in enumerate(values)]
    if entry:
        positions.append(Position("NEW/USD", 0.0, 1.0, open_entry_stake=entry))
    return Snapshot(balance, tuple(positions), external)


# --- policy validation -------------------------------------------------------------------


# Single fields' ranges are RiskConfig's (tests/config); the core keeps the rule across fields.
@pytest.mark.parametrize("kwargs", [
    {"trim_band_pct": 25.0},                                  # band == cap: target 0
    {"trim_band_pct": 25.01},
    {"max_total_at_risk_pct": 2.0},                           # the shipped band 2 == cap
])
def test_policy_rejects_a_band_not_below_the_cap(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="trim_band_pct must be < max_total_at_risk_pct"):
        shipped_cap_policy(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_total_at_risk_pct": 100.0},
        {"trim_band_pct": 0.0},
        {"max_total_at_risk_pct": 25.0, "trim_band_pct": 24.99},
        {"trim_interval_cycles": 1, "max_trims_per_cycle": 1, "reentry_cooldown_cycles": 0},
        {"trim_mode": "largest_first"},
    ],
)
def test_policy_accepts_boundary_values(kwargs: dict[str, object]) -> None:
    shipped_cap_policy(**kwargs)


@pytest.mark.parametrize(
    "position",
    [
        lambda: Position("A/USD", -1.0, 1.0),
        lambda: Position("A/USD", 1.0, math.nan),
        lambda: Position("A/USD", 1.0, 1.0, open_entry_stake=-5.0),
    ],
)
def test_position_rejects_negative_or_nan(position: object) -> None:
    with pytest.raises(ValueError, match="A/USD"):
        position()  # type: ignore[operator]


# --- measure -----------------------------------------------------------------------------


def test_measure_values() -> None:
    e = measure(Snapshot(130.0, (Position("BTC/USDC", 0.001, 100_000.0),)), POLICY)
    assert e.at_risk == pytest.approx(100.0)
    assert e.equity == pytest.approx(230.0)
    assert e.at_risk_pct == pytest.approx(100 / 230 * 100)
    assert e.cap_value == pytest.approx(57.5)
    assert e.target_value == pytest.approx(52.9)
    assert e.headroom == pytest.approx(57.5 - 100.0)
    assert e.excess_over_target == pytest.approx(100.0 - 52.9)


def test_open_entry_order_neither_double_counts_nor_vanishes() -> None:
    # 100 total balance, 10 of it locked in an open entry order; then that order fills at 1.0.
    before = measure(Snapshot(100.0, (Position("A/USD", 0.0, 1.0, open_entry_stake=10.0),)), POLICY)
    after = measure(Snapshot(90.0, (Position("A/USD", 10.0, 1.0),)), POLICY)
    assert (before.at_risk, before.equity) == (after.at_risk, after.equity) == (10.0, 100.0)
    # Half filled: 5 in the position, 5 still locked in the order (and in the total balance).
    half = measure(Snapshot(95.0, (Position("A/USD", 5.0, 1.0, open_entry_stake=5.0),)), POLICY)
    assert (half.at_risk, half.equity) == (10.0, 100.0)


def test_from_free_balance_adds_locked_entry_stake_back() -> None:
    positions = (Position("A/USD", 0.0, 1.0, open_entry_stake=10.0), Position("B/USD", 2.0, 5.0))
    free = Snapshot.from_free_balance(90.0, positions)
    assert free.stake_balance == 100.0
    assert measure(free, POLICY) == measure(Snapshot(100.0, positions), POLICY)


@pytest.mark.parametrize(
    "balance, held, pct, state",
    [
        (0.0, 0.0, 0.0, CapState.ACTIVE),
        (-10.0, 0.0, 0.0, CapState.ACTIVE),
        (-50.0, 10.0, math.inf, CapState.REDUCING),  # equity -40
        (-10.0, 10.0, math.inf, CapState.REDUCING),  # equity exactly 0
    ],
)
def test_non_positive_equity(balance: float, held: float, pct: float, state: CapState) -> None:
    e = measure(snap(balance, held) if held else snap(balance), POLICY)
    assert e.at_risk_pct == pct
    assert e.cap_value == e.target_value == 0.0
    assert next_state(CapState.ACTIVE, e, POLICY) is state


def test_external_holdings_counted_only_when_enabled() -> None:
    s = snap(700.0, 200.0, external=100.0)
    off = measure(s, POLICY)
    on = measure(s, shipped_cap_policy(count_external_holdings=True))
    assert (off.at_risk, off.equity) == (200.0, 900.0)
    assert (on.at_risk, on.equity) == (300.0, 1000.0)
    assert next_state(CapState.ACTIVE, off, POLICY) is CapState.ACTIVE  # 22.2 %
    assert next_state(CapState.ACTIVE, on, POLICY) is CapState.REDUCING  # 30 %


# --- state machine boundaries ------------------------------------------------------------

# Equity is 260 in every row (balance + held), so the cap is $65.00 and the target $59.80.


@pytest.mark.parametrize(
    "held, previous, expected",
    [
        ((65.0,), CapState.ACTIVE, CapState.ACTIVE),  # exactly at the cap
        ((65.01,), CapState.ACTIVE, CapState.REDUCING),  # one cent over
        ((21.7, 21.7, 21.6), CapState.ACTIVE, CapState.ACTIVE),  # 65 via float sums
        ((64.99,), CapState.ACTIVE, CapState.ACTIVE),
        ((62.4,), CapState.REDUCING, CapState.REDUCING),  # 24 %: inside the band
        ((62.4,), CapState.ACTIVE, CapState.ACTIVE),  # 24 %: inside the band
        ((59.8,), CapState.REDUCING, CapState.ACTIVE),  # exactly 23.0 %
        ((19.9, 19.9, 20.0), CapState.REDUCING, CapState.ACTIVE),  # 59.8 via float sums
        ((59.826,), CapState.REDUCING, CapState.REDUCING),  # 23.01 %
        ((59.81,), CapState.REDUCING, CapState.REDUCING),  # one cent above the target
        ((130.0,), CapState.REDUCING, CapState.REDUCING),
    ],
)
def test_next_state_hysteresis(
    held: tuple[float, ...], previous: CapState, expected: CapState
) -> None:
    e = measure(snap(260.0 - sum(held), *held), POLICY)
    assert next_state(previous, e, POLICY) is expected


@pytest.mark.parametrize(
    "held_btc, expected",
    [(0.01, CapState.ACTIVE), (0.01000001, CapState.REDUCING)],  # exactly 25 %, +1 satoshi
)
def test_btc_stake_currency_boundary(held_btc: float, expected: CapState) -> None:
    e = measure(snap(0.04 - held_btc, held_btc), POLICY)
    assert next_state(CapState.ACTIVE, e, POLICY) is expected


# --- entry gate --------------------------------------------------------------------------


def exposure_at(pct: float, equity: float = 1000.0) -> Exposure:
    held = equity * pct / 100
    return measure(snap(equity - held, held), POLICY)


def test_gate_refuses_while_reducing_with_exact_reason() -> None:
    d = clamp_entry_stake(10.0, exposure_at(31.2), CapState.REDUCING, min_stake=5.0, max_stake=1e9)
    assert d.stake is None and not d.allowed
    assert d.reason == "EXPOSURE_OVER_CAP: at_risk=31.2% cap=25.0% target=23.0%"


def test_gate_refuses_over_cap_even_if_caller_still_says_active() -> None:
    d = clamp_entry_stake(10.0, exposure_at(25.1), CapState.ACTIVE, min_stake=5.0, max_stake=1e9)
    assert d.reason == "EXPOSURE_OVER_CAP: at_risk=25.1% cap=25.0% target=23.0%"


@pytest.mark.parametrize(
    "proposed, pct, min_stake, max_stake, stake, reason",
    [
        (10.0, 20.0, 5.0, 100.0, 10.0, "ENTRY_OK: stake=10"),
        (50.0, 20.0, 5.0, 100.0, 30.0, "ENTRY_CLAMPED: stake=30 proposed=50 limited_by=headroom"),
        (50.0, 20.0, 5.0, 20.0, 20.0, "ENTRY_CLAMPED: stake=20 proposed=50 limited_by=max_stake"),
        # Entries fill up to the target (cap 25 - band 2 = 23 %), never to the cap itself.
        (50.0, 22.5, 5.0, 100.0, 5.0, "ENTRY_CLAMPED: stake=5 proposed=50 limited_by=headroom"),
        (50.0, 22.7, None, 100.0, 3.0, "ENTRY_CLAMPED: stake=3 proposed=50 limited_by=headroom"),
        (50.0, 22.8, 5.0, 100.0, None, "BELOW_MIN_STAKE: stake=2 min_stake=5 limited_by=headroom"),
        (50.0, 23.0, None, 100.0, None, "BELOW_MIN_STAKE: stake=0 min_stake=0 limited_by=headroom"),
        (50.0, 24.0, None, 100.0, None, "BELOW_MIN_STAKE: stake=0 min_stake=0 limited_by=headroom"),
        (
            4.99,
            10.0,
            5.0,
            100.0,
            None,
            "BELOW_MIN_STAKE: stake=4.99 min_stake=5 limited_by=proposed",
        ),
        (50.0, 25.0, None, 100.0, None, "BELOW_MIN_STAKE: stake=0 min_stake=0 limited_by=headroom"),
        (0.0, 10.0, None, 100.0, None, "BELOW_MIN_STAKE: stake=0 min_stake=0 limited_by=proposed"),
    ],
)
def test_gate_clamps_to_headroom_and_limits(
    proposed: float,
    pct: float,
    min_stake: float | None,
    max_stake: float,
    stake: float | None,
    reason: str,
) -> None:
    d = clamp_entry_stake(
        proposed, exposure_at(pct), CapState.ACTIVE, min_stake=min_stake, max_stake=max_stake
    )
    assert d.stake == (None if stake is None else pytest.approx(stake))
    assert d.reason == reason


def test_entering_the_full_headroom_lands_exactly_on_the_target_and_stays_active() -> None:
    before = snap(195.0, 20.0, 25.0)  # equity 240, cap 60, target 55.2, at_risk 45
    d = clamp_entry_stake(
        100.0, measure(before, POLICY), CapState.ACTIVE, min_stake=1.0, max_stake=1e9
    )
    assert d.stake == pytest.approx(10.2)
    assert d.stake is not None
    after = snap(195.0 - d.stake, 20.0, 25.0, d.stake)
    exposure = measure(after, POLICY)
    assert exposure.at_risk == pytest.approx(exposure.target_value)
    # The band between target and cap is left for price drift: a 2 % rally trims nothing.
    assert next_state(CapState.ACTIVE, exposure, POLICY) is CapState.ACTIVE


def test_external_holdings_change_the_gate_answer() -> None:
    s = snap(700.0, 200.0, external=100.0)  # 22.2 % without, 30 % with external holdings
    on = shipped_cap_policy(count_external_holdings=True)
    without = clamp_entry_stake(
        50.0, measure(s, POLICY), CapState.ACTIVE, min_stake=1.0, max_stake=1e9
    )
    with_ext = clamp_entry_stake(
        50.0, measure(s, on), CapState.ACTIVE, min_stake=1.0, max_stake=1e9
    )
    assert without.stake == pytest.approx(7.0)  # target 207 - 200
    assert with_ext.reason == "EXPOSURE_OVER_CAP: at_risk=30.0% cap=25.0% target=23.0%"


@pytest.mark.parametrize(
    "amount, currency, text",
    [
        (65.0, "USD", "$65.00"),
        (70.2, "usdc", "$70.20"),
        (1234.5, "USDT", "$1,234.50"),
        (0.0123, "BTC", "0.0123 BTC"),
        (0.00000001, "BTC", "0.00000001 BTC"),
        (65.0, "EUR", "65 EUR"),
    ],
)
def test_format_stake_never_assumes_usd(amount: float, currency: str, text: str) -> None:
    assert format_stake(amount, currency) == text
