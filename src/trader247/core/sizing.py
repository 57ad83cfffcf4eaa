"""Stake per entry: the tier sizing of ``policy.yaml`` applied to freqtrade's ``stake_amount``.

Decisions:
- ``stake_amount: "unlimited"``: the tier % of equity (the original bot's sizing), e.g. 3 % of
  the wallet for a tier-1 pair.
- a fixed ``stake_amount`` (e.g. 1000): the user's number is the stake of the largest tier; the
  other tiers scale it by their % relative to the largest (2 % / 3 % -> two thirds of it). The
  tiers never raise a stake above what the user asked for.
- ``risk_scale`` (``policy.yaml`` ``strategy: stake: volatility``, from
  :func:`trader247.core.scaling.stake_scale`, in (0, 1]) scales either: a volatile pair gets a
  smaller stake so every entry risks about the same; never a larger one than the tier's.
- freqtrade's ``max_stake`` (what the wallet allows) bounds both; the at-risk cap clamps later.
Pure: values in, a number out; the percentages come from ``SizingConfig``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from trader247.core.scaling import stake_scale

if TYPE_CHECKING:
    from trader247.core.config.policy import SizingConfig, StrategyConfig

__all__ = ["describe_sizing", "entry_stake", "strategy_stake", "tier_scale"]


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
    risk_scale: float,
) -> float:
    """The stake of one entry (``pct``: the pair's tier %, ``scale``: :func:`tier_scale`,
    ``risk_scale``: the volatility scale, 1.0 when off)."""
    if not 0 < risk_scale <= 1:
        raise ValueError(f"risk_scale must be in (0, 1] (got {risk_scale!r})")
    stake = proposed_stake * scale if fixed_stake else equity * pct / 100.0
    return max(0.0, min(stake * risk_scale, max_stake))


def describe_sizing(stake_amount: object, stake_currency: str, all_pcts: Mapping[str, float],
                    default_pct: float, volatility: tuple[float, float, float] | None) -> str:
    """The start-up line that says how ``stake_amount`` and the tiers combine; ``volatility``:
    (reference %, hours, floor) of volatility-scaled stakes, None when off."""
    return _describe_tiers(stake_amount, stake_currency, all_pcts, default_pct) + (
        "" if volatility is None else
        f"; volatility-scaled: x {volatility[0]:g} % / the pair's {volatility[1]:g} h volatility "
        f"of 1h returns, clamped to [{volatility[2]:g}, 1]")


def _describe_tiers(stake_amount: object, stake_currency: str, all_pcts: Mapping[str, float],
                    default_pct: float) -> str:
    tiers = ", ".join(f"{name} {pct:g} %" for name, pct in all_pcts.items())
    if stake_amount == "unlimited":
        return (f"sizing: stake_amount unlimited -> tier % of equity per entry ({tiers}; "
                f"other pairs {default_pct:g} %)")
    scales = ", ".join(f"{name} x{tier_scale(pct, all_pcts, default_pct):.2f}"
                       for name, pct in all_pcts.items())
    other = tier_scale(default_pct, all_pcts, default_pct)
    return (f"sizing: stake_amount {stake_amount} {stake_currency} per entry, scaled by tier "
            f"({scales}; other pairs x{other:.2f})")


def strategy_stake(sizing: SizingConfig, guards: StrategyConfig, tier: str | None, *,
                   fixed_stake: bool, proposed_stake: float, equity: float, max_stake: float,
                   volatility: Callable[[], float]) -> float:
    """Trader247Strategy's stake for an entry on a pair of ``tier`` (None: no tier):
    :func:`entry_stake` with ``policy.yaml``'s ``sizing:`` and ``strategy: stake``.
    ``volatility``: the pair's volatility at the signal candle, asked only when scaled."""
    pct = sizing.stake_pct(tier)
    risk = 1.0 if guards.stake != "volatility" else stake_scale(
        volatility(), guards.reference_volatility_pct, guards.volatility_stake_min_scale)
    return entry_stake(pct=pct, scale=tier_scale(pct, sizing.tier_stake_pct,
                                                 sizing.default_stake_pct),
                       fixed_stake=fixed_stake, proposed_stake=proposed_stake, equity=equity,
                       max_stake=max_stake, risk_scale=risk)
