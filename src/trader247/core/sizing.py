"""Stake per entry: the tier sizing of ``policy.yaml`` applied to freqtrade's ``stake_amount``.

Decisions:
- ``stake_amount: "unlimited"``: the tier % of equity (the original bot's sizing), e.g. 3 % of
  the wallet for a tier-1 pair.
- a fixed ``stake_amount`` (e.g. 1000): the user's number is the stake of the largest tier; the
  other tiers scale it by their % relative to the largest (2 % / 3 % -> two thirds of it). The
  tiers never raise a stake above what the user asked for.
- freqtrade's ``max_stake`` (what the wallet allows) bounds both; the at-risk cap clamps later.
Pure: values in, a number out; the percentages come from ``SizingConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["describe_sizing", "entry_stake", "tier_scale"]


def tier_scale(pct: float, all_pcts: Mapping[str, float], default_pct: float) -> float:
    """``pct`` relative to the largest configured %, in [0, 1]; 1.0 when nothing is positive."""
    largest = max([*all_pcts.values(), default_pct], default=0.0)
    return 1.0 if largest <= 0 else min(1.0, pct / largest)


def entry_stake(
    *,
    pct: float,
    scale: float,
    fixed_stake: bool,
    proposed_stake: float,
    equity: float,
    max_stake: float,
) -> float:
    """The stake of one entry (``pct``: the pair's tier %, ``scale``: :func:`tier_scale`)."""
    stake = proposed_stake * scale if fixed_stake else equity * pct / 100.0
    return max(0.0, min(stake, max_stake))


def describe_sizing(stake_amount: object, stake_currency: str, all_pcts: Mapping[str, float],
                    default_pct: float) -> str:
    """The start-up line that says how ``stake_amount`` and the tiers combine."""
    tiers = ", ".join(f"{name} {pct:g} %" for name, pct in all_pcts.items())
    if stake_amount == "unlimited":
        return (f"sizing: stake_amount unlimited -> tier % of equity per entry ({tiers}; "
                f"other pairs {default_pct:g} %)")
    scales = ", ".join(f"{name} x{tier_scale(pct, all_pcts, default_pct):.2f}"
                       for name, pct in all_pcts.items())
    other = tier_scale(default_pct, all_pcts, default_pct)
    return (f"sizing: stake_amount {stake_amount} {stake_currency} per entry, scaled by tier "
            f"({scales}; other pairs x{other:.2f})")
