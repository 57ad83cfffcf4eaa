"""Models of ``config/policy.yaml``: one section per class, the one set of defaults.

The core gets values, never defaults: ``to_core()`` builds its value objects
(:class:`RiskConfig` -> ``CapPolicy``, :class:`FleetConfig` -> ``FleetPolicy``). Checks that span
fields or files live in :mod:`trader247.core.config.checks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from trader247.core.cluster_limits import ClusterLimits
from trader247.core.config.fields import (
    FROZEN,
    Bounds,
    Currency,
    Matches,
    Percent,
    PositiveFloat,
    Text,
)
from trader247.core.config.protections import ProtectionConfig
from trader247.core.exposure import CapPolicy
from trader247.core.fleet import FleetPolicy
from trader247.core.volume import VolumeSource

if TYPE_CHECKING:
    from trader247.core.config.universe import ClustersConfig

__all__ = [
    "LIVE_CAP_ACK_THRESHOLD_PCT",
    "POSTGRESQL_SCHEMES",
    "FleetConfig",
    "LiquidityConfig",
    "MetricsConfig",
    "RENAMED_KEYS",
    "PolicyConfig",
    "RiskConfig",
    "ShutdownConfig",
    "SizingConfig",
    "StaleDataConfig",
    "StrategyConfig",
    "TrimsConfig",
    "is_postgresql_url",
]

LIVE_CAP_ACK_THRESHOLD_PCT: Final = 25.0
"""A live config with ``max_total_at_risk_pct`` above this needs ``acknowledge_high_cap_live``."""


class LiquidityConfig(BaseModel):
    """Universe liquidity rules shared by all tiers (fixes 2 and 3)."""

    model_config = FROZEN

    min_24h_volume_usd: PositiveFloat = Field(
        3_000_000.0, description="Global fallback floor (USD) for symbols in no tier."
    )
    volume_source: VolumeSource = Field(
        "quote_first", description="Which 24h volume to trust; rollback switch of the USD volume."
    )
    pegged_quotes: tuple[Currency, ...] = Field(
        ("USDC", "USDT"), description="Quote currencies valued 1:1 to USD."
    )
    stablecoins: tuple[Currency, ...] = Field(
        ("USDT", "USDC", "DAI", "PYUSD", "USDS", "EURC"),
        description="Base currencies treated as stablecoins.",
    )
    exclude_stablecoin_bases: StrictBool = Field(
        True, description="Never trade pairs whose base is a stablecoin."
    )
    exit_band: Annotated[StrictFloat, Bounds(ge=0, lt=1)] = Field(
        0.10, description="Hysteresis: an eligible pair leaves only below floor*(1-exit_band)."
    )
    min_universe_size: Annotated[StrictInt, Bounds(ge=0)] = Field(
        7, description="Warn when fewer pairs are eligible."
    )
    suspect_ratio: Annotated[StrictFloat, Bounds(gt=1)] = Field(
        100.0,
        description="Flag VOLUME_UNITS_SUSPECT when quote and base*price volumes "
        "disagree by more than this factor.",
    )


RENAMED_KEYS: Final[Mapping[tuple[str, ...], tuple[str, ...]]] = {
    ("risk", "max_per_theme_pct"): ("risk", "max_per_cluster_pct"),
}
"""Old key path -> new key path of ``policy.yaml``. An old key still works: its section's model
reads it as the new one, and the loader (``trader247.configfiles``) reports it once as a
warning naming the file and both keys. Both keys in one file is an error. ``trader247 migrate``
writes the new key."""

_RISK_RENAMED: Final = {old[1]: new[1] for old, new in RENAMED_KEYS.items() if old[0] == "risk"}


def _deprecated_in_schema(schema: dict[str, Any]) -> None:
    """The JSON Schema lists each old key as ``deprecated`` (editors strike it through) with the
    new key's type, since the file is still valid with it."""
    properties = schema["properties"]
    for old, new in _RISK_RENAMED.items():
        properties[old] = {**properties[new], "deprecated": True, "title": old,
                           "description": f"Deprecated name of {new}: use {new}."}


class RiskConfig(BaseModel):
    """Total at-risk cap and the trims that enforce it (fixes 1 and 8)."""

    model_config = ConfigDict(**FROZEN, json_schema_extra=_deprecated_in_schema)

    @model_validator(mode="before")
    @classmethod
    def _renamed_keys(cls, data: Any) -> Any:
        """An old key (:data:`RENAMED_KEYS`) is read as the new one; both given is an error."""
        if not isinstance(data, Mapping) or not _RISK_RENAMED.keys() & data.keys():
            return data
        for old, new in _RISK_RENAMED.items():
            if old in data and new in data:
                raise PydanticCustomError(
                    "renamed_key_twice",
                    "both {new} and {old} are given: {old} is the deprecated name of {new}; "
                    "keep {new} only",
                    {"old": old, "new": new},
                )
        return {_RISK_RENAMED.get(key, key): value for key, value in data.items()}

    max_total_at_risk_pct: Percent = Field(
        25.0,
        description="Cap on open positions as % of equity (80 was the original emergency value).",
    )
    trim_interval_cycles: Annotated[StrictInt, Bounds(ge=1)] = Field(
        3, description="Trim at most every N cycles."
    )
    trim_timeout_seconds: PositiveFloat = Field(
        75.0, description="Time budget of one trim pass."
    )
    max_trims_per_cycle: Annotated[StrictInt, Bounds(ge=1)] = Field(
        3, description="Trim orders per cycle at most (the trim alerts fire above this)."
    )
    trim_band_pct: Annotated[StrictFloat, Bounds(ge=0)] = Field(
        2.0, description="Target = cap - band: entries fill up to it and trims sell down to it; "
        "REDUCING starts above the cap (must be < cap)."
    )
    trim_on_start: StrictBool = Field(True, description="Trim at start-up when over the cap.")
    trim_mode: Literal["proportional", "largest_first"] = Field(
        "proportional", description="Scale every position alike, or cut the largest first."
    )
    reentry_cooldown_cycles: Annotated[StrictInt, Bounds(ge=0)] = Field(
        6, description="Cycles before a trimmed pair may be entered again."
    )
    count_external_holdings: StrictBool = Field(
        False, description="Count wallet holdings the bot did not open toward the cap."
    )
    acknowledge_high_cap_live: StrictBool = Field(
        False, description="Required true for a live (non dry-run) config with cap > 25."
    )
    # The original bot's two other limits; both off by default.
    max_per_cluster_pct: dict[Text, Percent] = Field(
        default_factory=dict,
        description="At-risk cap per cluster of universe.yaml clusters.definitions, "
        "as % of equity (e.g. MEME: 4.0). Empty: no cluster caps. "
        "Was max_per_theme_pct (still read, with a deprecation warning).",
    )
    max_per_asset_pct: Percent | None = Field(
        None, description="At-risk cap per asset (all its pairs), as % of equity. null: off."
    )

    def to_core(self, trims: TrimsConfig, clusters: ClustersConfig) -> CapPolicy:
        """The core's cap policy; ``trims`` is the ``trims:`` section (its rollback switch),
        ``clusters`` the ``clusters:`` section of ``universe.yaml`` that the cluster caps name."""
        return CapPolicy(
            max_total_at_risk_pct=self.max_total_at_risk_pct,
            trim_band_pct=self.trim_band_pct,
            trim_interval_cycles=self.trim_interval_cycles,
            trim_timeout_seconds=self.trim_timeout_seconds,
            max_trims_per_cycle=self.max_trims_per_cycle,
            trim_on_start=self.trim_on_start,
            trim_mode=self.trim_mode,
            reentry_cooldown_cycles=self.reentry_cooldown_cycles,
            count_external_holdings=self.count_external_holdings,
            trims_enabled=trims.enabled,
            cluster_limits=ClusterLimits.from_definitions(
                clusters.definitions, self.max_per_cluster_pct, self.max_per_asset_pct
            ),
        )


class TrimsConfig(BaseModel):
    model_config = FROZEN

    enabled: StrictBool = Field(
        True, description="Rollback: false = never trim, only block new entries over the cap."
    )


class ShutdownConfig(BaseModel):
    """Graceful stop."""

    model_config = FROZEN

    liquidate_on_stop: StrictBool = Field(False, description="Sell everything on stop.")
    liquidate_timeout_seconds: PositiveFloat = Field(
        30.0, description="Time budget of the liquidation on stop."
    )
    stop_grace_seconds: PositiveFloat = Field(
        5.0, description="SIGTERM grace period before a forced stop."
    )


class StaleDataConfig(BaseModel):
    """Entry guard against candles that stopped advancing (found by the reliability suite)."""

    model_config = FROZEN

    block_entries: StrictBool = Field(
        True, description="Rollback: false = freqtrade's own check only (2 candles + 5 min)."
    )
    max_missing_candles: Annotated[StrictInt, Bounds(ge=0)] = Field(
        0, description="Closed candles the newest analyzed candle may lag behind now."
    )


class MetricsConfig(BaseModel):
    """Prometheus exporter."""

    model_config = FROZEN

    enabled: StrictBool = True
    host: Text = "127.0.0.1"
    port: Annotated[StrictInt, Bounds(ge=1, le=65535)] = 9090


POSTGRESQL_SCHEMES: Final = ("postgresql", "postgres")


def is_postgresql_url(url: str) -> bool:
    """``postgresql://``, ``postgresql+psycopg://``, ``postgres://`` (SQLAlchemy's spellings)."""
    return url.split(":", 1)[0].split("+", 1)[0] in POSTGRESQL_SCHEMES


class FleetConfig(BaseModel):
    """Several bots on one exchange account share ONE at-risk cap through PostgreSQL.

    Off by default: one bot needs no fleet. Each bot is a member under freqtrade's ``bot_name``.
    """

    model_config = FROZEN

    enabled: StrictBool = Field(
        False, description="Share the cap with the other bots of this fleet (rollback: false)."
    )
    name: Annotated[StrictStr, Matches(r"^[A-Za-z0-9_.-]{1,64}$",
                                        "letters, digits, '_', '.' or '-' (1-64)")] = Field(
        "main", description="The fleet's name: bots with the same name and database share a cap."
    )
    db_url: Text | None = Field(
        None,
        description="The fleet's PostgreSQL database (SQLAlchemy URL). null: the bot's own "
        "freqtrade db_url (which must then be PostgreSQL).",
    )
    lease_seconds: Annotated[StrictFloat, Bounds(gt=0, le=3600)] = Field(
        30.0,
        description="Leader lease and entry-reservation lifetime; a member whose report is "
        "older is stale.",
    )

    def to_core(self) -> FleetPolicy:
        return FleetPolicy(name=self.name, lease_seconds=self.lease_seconds)


class SizingConfig(BaseModel):
    model_config = FROZEN

    tier_stake_pct: dict[Text, Percent] = Field(
        default={"tier_1_core": 3.0, "tier_2_rotational": 2.0, "tier_3_event_driven": 0.7},
        description="Stake per entry as % of equity, by universe tier name.",
    )
    default_stake_pct: Percent = Field(
        0.7, description="Stake % for pairs in no tier or in a tier missing above."
    )

    def stake_pct(self, tier: str | None) -> float:
        """Stake % of equity for a pair of ``tier`` (``None``: the pair is in no tier)."""
        if tier is None:
            return self.default_stake_pct
        return self.tier_stake_pct.get(tier, self.default_stake_pct)


class StrategyConfig(BaseModel):
    """``strategy:``: Trader247Strategy's guards against the trend filter's whipsaw.

    Structure, not tuning: hyperopt (``trader247 walk-forward``) tunes the trend length, band,
    momentum and stop inside whichever guards are set here. The defaults are the candidates the
    README's selection rule (fixed before the rows) picked: a slower exit (exit band 2 x the
    entry band), no market filter, no cooldown (issue [S]'s second round) and
    volatility-scaled stakes (third round, walk-forwarded); README "Out-of-sample results" has
    every candidate's rows. Rollback to the second round's default: stake tier; to the issue-13
    strategy: stake tier, exit_band_scale 1; to the first round's default: stake tier,
    market_filter true, reentry_cooldown_hours 168, exit_band_scale 1.
    """

    model_config = FROZEN

    market_filter: StrictBool = Field(
        False,
        description="Enter only while BTC closes above its own trend mean (BTC/<stake>, else "
        "BTC/USD; the same buy_trend_ma_hours): cash while the market's trend is down.",
    )
    reentry_cooldown_hours: Annotated[StrictFloat, Bounds(ge=0, le=1000)] = Field(
        0.0,
        description="No entry while the close was below the exit band within this many hours "
        "(no buying back the breakout just sold). 0: off.",
    )
    exit: Literal["band", "trailing"] = Field(
        "band",
        description="band: leave when the close falls below the trend mean by the exit band "
        "(trend_lost); trailing: no band exit, the stoploss trails from the highest price.",
    )
    exit_band_scale: Annotated[StrictFloat, Bounds(ge=0, le=5)] = Field(
        2.0,
        description="Exit band = this x buy_trend_band_pct below the mean (1: symmetric; above 1 "
        "a slower exit than entry).",
    )
    band: Literal["fixed", "volatility"] = Field(
        "fixed",
        description="fixed: the bands are buy_trend_band_pct; volatility: buy_trend_band_pct x "
        "the pair's volatility / reference_volatility_pct (wider where and when the pair "
        "moves more; hyperopt still tunes buy_trend_band_pct, the band at the reference).",
    )
    stake: Literal["tier", "volatility"] = Field(
        "volatility",
        description="tier: the tier stake; volatility: the tier stake x reference_volatility_pct "
        "/ the pair's volatility, clamped to [volatility_stake_min_scale, 1] x the tier stake "
        "(every entry risks about the same).",
    )
    volatility_hours: Annotated[StrictFloat, Bounds(gt=0, le=1000)] = Field(
        168.0,
        description="The pair's volatility: standard deviation of its 1h close-to-close returns "
        "(percent per hour) over this many hours.",
    )
    reference_volatility_pct: Annotated[StrictFloat, Bounds(gt=0, le=100)] = Field(
        0.66,
        description="The volatility (percent per hour) at which a volatility-scaled band is "
        "buy_trend_band_pct and a volatility-scaled stake is the tier stake. 0.66: the median "
        "168 h volatility of BTC/ETH/SOL/ADA-USD before the out-of-sample span (README).",
    )
    volatility_stake_min_scale: Annotated[StrictFloat, Bounds(gt=0, le=1)] = Field(
        0.25,
        description="Floor of a volatility-scaled stake, as a fraction of the tier stake.",
    )
    momentum_top_n: Annotated[StrictInt, Bounds(ge=0, le=1000)] = Field(
        0,
        description="Cross-sectional momentum: enter only pairs ranked in the top N of the "
        "whitelist by 168 h return at that candle (ties share the better rank). 0: off.",
    )


class PolicyConfig(BaseModel):
    """``config/policy.yaml``."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, title="247trader policy.yaml"
    )

    liquidity: LiquidityConfig = LiquidityConfig()
    risk: RiskConfig = RiskConfig()
    trims: TrimsConfig = TrimsConfig()
    shutdown: ShutdownConfig = ShutdownConfig()
    stale_data: StaleDataConfig = StaleDataConfig()
    metrics: MetricsConfig = MetricsConfig()
    sizing: SizingConfig = SizingConfig()
    strategy: StrategyConfig = StrategyConfig()
    fleet: FleetConfig = FleetConfig()
    protections: tuple[ProtectionConfig, ...] = Field(
        (),
        description="Freqtrade's own protections (StoplossGuard, MaxDrawdown, CooldownPeriod, "
        "LowProfitPairs) in freqtrade's format; ExposureCap is always added first.",
    )
