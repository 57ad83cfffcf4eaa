"""Tier sizing against freqtrade's stake_amount (issue 13 item 3), from the shipped policy."""

from __future__ import annotations

import pytest
from tests.shipped import shipped

from trader247.core.sizing import describe_sizing, entry_stake, tier_scale

SIZING = shipped().policy.sizing
PCTS = SIZING.tier_stake_pct


def stake(tier: str | None, *, fixed: bool, proposed: float = 1000.0, equity: float = 10_000.0,
          max_stake: float = 1e9, risk: float = 1.0) -> float:
    pct = SIZING.stake_pct(tier)
    return entry_stake(pct=pct, scale=tier_scale(pct, PCTS, SIZING.default_stake_pct),
                       fixed_stake=fixed, proposed_stake=proposed, equity=equity,
                       max_stake=max_stake, risk_scale=risk)


def test_fixed_stake_amount_is_the_largest_tiers_stake_and_scales_the_others() -> None:
    assert stake("tier_1_core", fixed=True) == pytest.approx(1000.0)
    assert stake("tier_2_rotational", fixed=True) == pytest.approx(1000.0 * 2.0 / 3.0)
    assert stake("tier_3_event_driven", fixed=True) == pytest.approx(1000.0 * 0.7 / 3.0)
    assert stake(None, fixed=True) == pytest.approx(1000.0 * 0.7 / 3.0)


def test_unlimited_keeps_tier_percent_of_equity() -> None:
    assert stake("tier_1_core", fixed=False) == pytest.approx(300.0)
    assert stake("tier_2_rotational", fixed=False) == pytest.approx(200.0)
    assert stake(None, fixed=False) == pytest.approx(70.0)


@pytest.mark.parametrize("fixed", [True, False])
def test_max_stake_bounds_the_stake_at_and_one_cent_under(fixed: bool) -> None:
    full = stake("tier_1_core", fixed=fixed)
    assert stake("tier_1_core", fixed=fixed, max_stake=full) == pytest.approx(full)
    assert stake("tier_1_core", fixed=fixed, max_stake=full - 0.01) == pytest.approx(full - 0.01)


def test_scale_never_above_one_and_safe_without_positive_pcts() -> None:
    assert tier_scale(50.0, {"a": 3.0}, 0.7) == 1.0
    assert tier_scale(0.0, {}, 0.0) == 1.0


def test_start_up_line_says_how_stake_amount_is_used() -> None:
    fixed = describe_sizing(1000, "USD", PCTS, SIZING.default_stake_pct, None)
    assert "stake_amount 1000 USD per entry, scaled by tier" in fixed
    assert "tier_2_rotational x0.67" in fixed
    unlimited = describe_sizing("unlimited", "USD", PCTS, SIZING.default_stake_pct, None)
    assert "tier % of equity" in unlimited and "tier_1_core 3 %" in unlimited


@pytest.mark.parametrize("fixed", [True, False])
def test_volatility_scale_shrinks_the_tier_stake_and_max_stake_still_bounds(fixed: bool) -> None:
    full = stake("tier_2_rotational", fixed=fixed)
    assert stake("tier_2_rotational", fixed=fixed, risk=0.25) == pytest.approx(full * 0.25)
    assert stake("tier_2_rotational", fixed=fixed, risk=0.5,
                 max_stake=full * 0.5 - 0.01) == pytest.approx(full * 0.5 - 0.01)


@pytest.mark.parametrize("risk", [0.0, 1.01, float("nan")])
def test_risk_scale_outside_zero_one_is_refused(risk: float) -> None:
    with pytest.raises(ValueError, match="risk_scale"):
        stake("tier_1_core", fixed=True, risk=risk)


def test_start_up_line_states_volatility_scaled_stakes() -> None:
    line = describe_sizing(1000, "USD", PCTS, SIZING.default_stake_pct, (0.66, 168.0, 0.25))
    assert line.endswith("; volatility-scaled: x 0.66 % / the pair's 168 h volatility of 1h "
                         "returns, clamped to [0.25, 1]")
