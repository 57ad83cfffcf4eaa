"""What one universe refresh yields: markets in, per-pair decisions and the kept state out.

Plain values (no I/O): :class:`MarketInfo` from a ccxt market, :class:`PairDecision` with its
stable ``CODE: key=value`` line, :class:`UniverseState` (versioned, refuses bad data loudly) and
:class:`UniverseResult`. :mod:`trader247.core.universe` computes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any, NamedTuple

from trader247.core.universe_rules import Reason

__all__ = [
    "MarketInfo",
    "PairDecision",
    "UniverseResult",
    "UniverseState",
    "format_force_eligible_line",
    "format_usd",
    "market_from_ccxt",
]


@dataclass(frozen=True)
class MarketInfo:
    pair: str
    base: str
    quote: str
    active: bool = True


def market_from_ccxt(market: Mapping[str, Any]) -> MarketInfo:
    """ccxt market dict -> :class:`MarketInfo`; ``active: None`` means unknown, treated as active
    (freqtrade's ``market_is_active`` does the same)."""
    return MarketInfo(
        pair=str(market["symbol"]),
        base=str(market.get("base") or ""),
        quote=str(market.get("quote") or ""),
        active=market.get("active") is not False,
    )


def _plain(number: float | None, missing: str) -> str:
    if number is None:
        return missing
    return f"{number:.2f}".rstrip("0").rstrip(".")


def format_usd(amount: float | None) -> str:
    """``$564.7M``, ``$10.0M``, ``$950.0K``; ``unknown`` for a missing figure."""
    if amount is None or not math.isfinite(amount):
        return "unknown"
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        scaled = round(amount / divisor, 1)
        if scaled >= 1.0:
            return f"${scaled:.1f}{suffix}"
    return f"${amount:.2f}"


class PairDecision(NamedTuple):
    """One pair's verdict. Immutable; a NamedTuple rather than a frozen dataclass because ~800
    are built per refresh and frozen-dataclass construction is ~3x slower.

    ``force_listed``: on its tier's force list, whatever the outcome (an inactive forced pair is
    an error). ``volume_suspect``: quote volume and base x last disagree by more than
    ``suspect_ratio``x.
    """

    pair: str
    eligible: bool
    reason: Reason
    tier: str | None
    usd_volume: float | None
    floor: float | None
    detail: str
    force_listed: bool = False
    volume_suspect: bool = False

    def format(self) -> str:
        """Stable one-line text: ``CODE: pair=.. tier=.. usd_volume=.. floor=..``."""
        return (
            f"{self.reason.value}: pair={self.pair} tier={self.tier or 'none'}"
            f" usd_volume={_plain(self.usd_volume, 'unknown')}"
            f" floor={_plain(self.floor, 'none')}"
        )


def format_force_eligible_line(decision: PairDecision) -> str:
    """The operator-facing log line for a force-eligible pair (production grep target)."""
    return (
        f"✅ FORCE ELIGIBLE: {decision.pair} bypasses liquidity checks ("
        f"{decision.tier or 'none'}, usd_volume={format_usd(decision.usd_volume)}, "
        f"floor={format_usd(decision.floor)})"
    )


# --------------------------------------------------------------------------- state / result


@dataclass(frozen=True)
class UniverseState:
    """What the adapter keeps between refreshes (and may persist as JSON).

    ``timestamp`` is when this snapshot was made; ``last_good_at`` when the whitelist was last
    computed from good data (older than ``timestamp`` while faults keep the previous whitelist).
    """

    eligible: frozenset[str]
    force_eligible: frozenset[str]
    whitelist: tuple[str, ...]
    timestamp: float
    last_good_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "eligible": sorted(self.eligible),
            "force_eligible": sorted(self.force_eligible),
            "whitelist": list(self.whitelist),
            "timestamp": self.timestamp,
            "last_good_at": self.last_good_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UniverseState:
        """Inverse of :meth:`to_dict`; ``ValueError`` on anything malformed (a corrupt state file
        must be noticed, not half-loaded)."""
        if not isinstance(data, Mapping) or data.get("version") != 1:
            raise ValueError("universe state: expected a mapping with version=1")

        def pairs(key: str) -> list[str]:
            value = data.get(key)
            if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
                raise ValueError(f"universe state: {key} must be a list of strings")
            return value

        def number(key: str) -> float:
            value = data.get(key)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise ValueError(f"universe state: {key} must be a finite number")
            return float(value)

        return cls(
            eligible=frozenset(pairs("eligible")),
            force_eligible=frozenset(pairs("force_eligible")),
            whitelist=tuple(pairs("whitelist")),
            timestamp=number("timestamp"),
            last_good_at=None if data.get("last_good_at") is None else number("last_good_at"),
        )


@dataclass(frozen=True)
class UniverseResult:
    decisions: tuple[PairDecision, ...]
    whitelist: tuple[str, ...]
    """Force-eligible pairs first (tier order), then by USD volume, descending."""
    tiers: Mapping[str, str]
    """Tier name of every evaluated pair that belongs to a tier."""
    warnings: tuple[str, ...]
    force_changes: tuple[str, ...]
    """Pairs that became or stopped being force-eligible since ``previous`` (all on first run)."""
    state: UniverseState
    errors: tuple[str, ...] = ()
    kept: bool = False
    """True when a data fault made the result keep the previous whitelist."""

    @cached_property
    def by_pair(self) -> Mapping[str, PairDecision]:
        return MappingProxyType({d.pair: d for d in self.decisions})

    @property
    def suspect_pairs(self) -> tuple[str, ...]:
        return tuple(d.pair for d in self.decisions if d.volume_suspect)
