"""Models of ``config/universe.yaml``: tiers, exclusions and clusters, the one set of defaults.

Tier order is file order (the first tier is tier 1). Which tier a pair belongs to is decided only
by the core (``trader247.core.universe.tier_of``); :meth:`UniverseConfig.to_core` builds its
``UniverseRules``. Checks across tiers live in :mod:`trader247.core.config.checks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from trader247.core.config.fields import FROZEN, PositiveFloat, Symbol, Text
from trader247.core.symbols import to_pair
from trader247.core.universe import TierRule, UniverseRules

if TYPE_CHECKING:
    from trader247.core.config.policy import LiquidityConfig

__all__ = ["ClustersConfig", "ExclusionsConfig", "Tier", "TierConstraints", "UniverseConfig"]


class TierConstraints(BaseModel):
    model_config = FROZEN

    min_24h_volume_usd: PositiveFloat = Field(
        description="USD volume floor of the tier; tiers must not increase in file order."
    )
    force_eligible_symbols: tuple[Symbol, ...] = Field(
        (), description="Symbols of this tier that bypass liquidity checks (force-eligible)."
    )


class Tier(BaseModel):
    model_config = FROZEN

    symbols: tuple[Symbol, ...] = Field(
        description="BTC-USD (Coinbase), BTC/USD (freqtrade) or a bare base BTC (every quote)."
    )
    constraints: TierConstraints

    def to_core(self, name: str) -> TierRule:
        return TierRule(
            name=name,
            symbols=frozenset(to_pair(s) for s in self.symbols),
            floor_usd=self.constraints.min_24h_volume_usd,
            force_eligible=frozenset(to_pair(s) for s in self.constraints.force_eligible_symbols),
        )


class ClustersConfig(BaseModel):
    """Asset clusters for ``risk.max_per_cluster_pct``; an asset is in one cluster only."""

    model_config = FROZEN

    definitions: dict[Text, tuple[Symbol, ...]] = Field(
        default_factory=dict,
        description="Cluster name -> assets (BTC, or a pair BTC-USD / BTC/USD: its base counts).",
    )


class ExclusionsConfig(BaseModel):
    model_config = FROZEN

    never_trade: tuple[Symbol, ...] = Field((), description="Never traded, whatever the volume.")


_TIER_2 = (
    "ADA-USD",
    "XRP-USD",
    "DOGE-USD",
    "AVAX-USD",
    "LINK-USD",
    "LTC-USD",
    "DOT-USD",
    "POL-USD",
    "NEAR-USD",
    "ATOM-USD",
)
_TIER_3 = ("UNI-USD", "XLM-USD", "AAVE-USD", "ICP-USD", "FIL-USD", "GRT-USD", "ALGO-USD", "SUI-USD")
_CORE = ("BTC-USD", "ETH-USD", "SOL-USD")


class UniverseConfig(BaseModel):
    """``config/universe.yaml``. Tier order is file order: the first tier is tier 1."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, title="247trader universe.yaml"
    )

    tiers: dict[Text, Tier] = Field(
        default={
            "tier_1_core": Tier(
                symbols=_CORE,
                constraints=TierConstraints(
                    min_24h_volume_usd=10_000_000.0, force_eligible_symbols=_CORE
                ),
            ),
            "tier_2_rotational": Tier(
                symbols=_TIER_2, constraints=TierConstraints(min_24h_volume_usd=5_000_000.0)
            ),
            "tier_3_event_driven": Tier(
                symbols=_TIER_3, constraints=TierConstraints(min_24h_volume_usd=2_000_000.0)
            ),
        },
        description="Tier name -> tier, highest floor first.",
    )
    exclusions: ExclusionsConfig = ExclusionsConfig(never_trade=("BONK-USD",))
    clusters: ClustersConfig = ClustersConfig()

    @field_validator("tiers")
    @classmethod
    def _at_least_one_tier(cls, tiers: dict[str, Tier]) -> dict[str, Tier]:
        if not tiers:
            raise PydanticCustomError("no_tiers", "must hold at least one tier (got none)")
        return tiers

    @property
    def tier_names(self) -> tuple[str, ...]:
        return tuple(self.tiers)

    def to_core(self, liquidity: LiquidityConfig) -> UniverseRules:
        """The core's universe rules: tiers and exclusions from this file, the liquidity rules
        shared by all tiers from ``liquidity:`` of ``policy.yaml``."""
        return UniverseRules(
            tiers=tuple(tier.to_core(name) for name, tier in self.tiers.items()),
            global_floor_usd=liquidity.min_24h_volume_usd,
            never_trade=frozenset(to_pair(s) for s in self.exclusions.never_trade),
            stablecoins=frozenset(liquidity.stablecoins),
            exclude_stablecoin_bases=liquidity.exclude_stablecoin_bases,
            exit_band=liquidity.exit_band,
            min_universe_size=liquidity.min_universe_size,
            pegged_quotes=frozenset(liquidity.pegged_quotes),
            volume_source=liquidity.volume_source,
            suspect_ratio=liquidity.suspect_ratio,
        )
