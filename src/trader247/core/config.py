"""Typed, frozen models of ``config/policy.yaml`` and ``config/universe.yaml``.

Pure: no file I/O, no freqtrade or ccxt. ``trader247.configfiles`` reads the files, maps every
error to ``file:line: key.path: message`` and calls :func:`cross_check`.

Key names are the original bot's (fixes 1, 3, 4 and 8 of 2025-11-15). Decisions:
- Scalars are strict: ``"25"`` is not a number and ``1`` is not ``true``; an int is accepted
  where a float is expected. NaN and infinities are rejected.
- Ranges are checked by :class:`Bounds`, so messages read ``must be > 0 and <= 100 (got 250)``
  and the generated JSON Schema carries the same limits for editor completion.
- Checks that span fields or files (tier floor order, one tier per symbol, force-eligible
  symbols inside their tier, trim band below the cap, the live high-cap acknowledgement) live in
  :func:`check_policy`, :func:`check_universe` and :func:`cross_check`, which return
  :class:`Problem` lists instead of stopping at the first one.
- Symbols may be written ``BTC-USD``, ``BTC/USD`` or a bare base ``BTC`` (every quote); they are
  kept as written and compared in the normalised form of :func:`normalize_symbol`. An exact pair
  in one tier and its bare base in another is a warning, not an error: the universe core
  resolves it (an exact entry beats a bare base).
- These models hold the one set of defaults (the committed YAML files repeat them as
  documentation, pinned by a test). The core gets values, never defaults: ``to_core()`` builds
  its value objects (:class:`RiskConfig` -> ``CapPolicy``, :class:`UniverseConfig` ->
  ``UniverseRules``, :class:`Tier` -> ``TierRule``). Which tier a pair belongs to is decided
  only by the core (``trader247.core.universe.tier_of``).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Final, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from trader247.core.exposure import CapPolicy
from trader247.core.fleet import FleetPolicy
from trader247.core.group_limits import GroupLimits
from trader247.core.symbols import glued_pair, to_pair
from trader247.core.universe import TierRule, UniverseRules
from trader247.core.volume import VolumeSource

__all__ = [
    "LIVE_CAP_ACK_THRESHOLD_PCT",
    "PROTECTION_METHODS",
    "PROTECTION_PARAMETERS",
    "Bounds",
    "ClustersConfig",
    "ExclusionsConfig",
    "FleetConfig",
    "LiquidityConfig",
    "MetricsConfig",
    "PolicyConfig",
    "Problem",
    "ProtectionConfig",
    "RiskConfig",
    "Severity",
    "ShutdownConfig",
    "SizingConfig",
    "StrategyConfig",
    "Tier",
    "TierConstraints",
    "TrimsConfig",
    "UniverseConfig",
    "asset_of",
    "check_policy",
    "check_symbols_on_exchange",
    "check_universe",
    "cross_check",
    "format_path",
    "normalize_symbol",
    "show_value",
]

LIVE_CAP_ACK_THRESHOLD_PCT: Final = 25.0
"""A live config with ``max_total_at_risk_pct`` above this needs ``acknowledge_high_cap_live``."""

SYMBOL_PATTERN: Final = r"^[A-Z0-9]{1,20}([-/][A-Z0-9]{1,20})?$"
CURRENCY_PATTERN: Final = r"^[A-Z0-9]{1,20}$"
_SYMBOL_RE: Final = re.compile(SYMBOL_PATTERN)
_CURRENCY_RE: Final = re.compile(CURRENCY_PATTERN)

Severity = Literal["error", "warning"]
PathElem = str | int


# --------------------------------------------------------------------------- problems


def format_path(path: Iterable[PathElem]) -> str:
    """``("tiers", "tier_1_core", "symbols", 2)`` -> ``tiers.tier_1_core.symbols[2]``."""
    out = ""
    for elem in path:
        if isinstance(elem, int):
            out += f"[{elem}]"
        else:
            out += f".{elem}" if out else str(elem)
    return out


def show_value(value: object, limit: int = 40) -> str:
    """A value as the user wrote it in YAML, for ``(got ...)``: ``250``, ``'25%'``, ``null``."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) < 1e16
    ):
        text = str(int(value))
    elif isinstance(value, float | int):
        text = repr(value)
    elif isinstance(value, dict):
        text = "a mapping"
    elif isinstance(value, list | tuple):
        text = "a list"
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file. ``path`` is the key path inside the file."""

    file: str
    path: tuple[PathElem, ...]
    message: str
    line: int | None = None
    severity: Severity = "error"
    column: int | None = None

    def format(self) -> str:
        """``config/policy.yaml:49: risk.max_total_at_risk_pct: must be > 0 ... (got 250)``."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        parts = [where]
        if self.path:
            parts.append(format_path(self.path))
        parts.append(("warning: " if self.severity == "warning" else "") + self.message)
        return ": ".join(parts)

    def __str__(self) -> str:
        return self.format()


# --------------------------------------------------------------------------- field types


def _num(x: float) -> str:
    return show_value(x)


class _AfterCheck:
    """A pydantic ``Annotated`` marker: ``check`` runs after the type's own validation."""

    def check(self, value: Any) -> Any:
        raise NotImplementedError

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))


@dataclass(frozen=True)
class Bounds(_AfterCheck):
    """Range check with a readable message, also written into the JSON Schema.

    Used as ``Annotated[StrictFloat, Bounds(gt=0, le=100)]``.
    """

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def describe(self) -> str:
        terms = []
        if self.gt is not None:
            terms.append(f"> {_num(self.gt)}")
        if self.ge is not None:
            terms.append(f">= {_num(self.ge)}")
        if self.lt is not None:
            terms.append(f"< {_num(self.lt)}")
        if self.le is not None:
            terms.append(f"<= {_num(self.le)}")
        return "must be " + " and ".join(terms)

    def contains(self, value: float) -> bool:
        return not (
            math.isnan(value)
            or (self.gt is not None and not value > self.gt)
            or (self.ge is not None and not value >= self.ge)
            or (self.lt is not None and not value < self.lt)
            or (self.le is not None and not value <= self.le)
        )

    def check(self, value: Any) -> Any:
        if not self.contains(value):
            raise PydanticCustomError(
                "out_of_range",
                "{bounds} (got {got})",
                {"bounds": self.describe(), "got": show_value(value)},
            )
        return value

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        js = handler(schema)
        for key, value in (
            ("exclusiveMinimum", self.gt),
            ("minimum", self.ge),
            ("exclusiveMaximum", self.lt),
            ("maximum", self.le),
        ):
            if value is not None:
                js[key] = value
        return js


@dataclass(frozen=True)
class _Matches(_AfterCheck):
    """String form check (symbols, currency codes, non-empty text) with a readable message."""

    pattern: str
    expected: str

    def check(self, value: str) -> str:
        if not re.match(self.pattern, value):
            raise PydanticCustomError(
                "bad_form",
                "must be {expected} (got {got})",
                {"expected": self.expected, "got": show_value(value)},
            )
        return value

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        js = handler(schema)
        js["pattern"] = self.pattern
        return js


Symbol = Annotated[
    StrictStr,
    _Matches(SYMBOL_PATTERN, "a symbol like BTC-USD, BTC/USD or BTC (upper-case letters/digits)"),
]
Currency = Annotated[StrictStr, _Matches(CURRENCY_PATTERN, "a currency code like USDC")]
Text = Annotated[StrictStr, _Matches(r"^\S(.*\S)?$", "a non-empty string")]
PositiveFloat = Annotated[StrictFloat, Bounds(gt=0)]
Percent = Annotated[StrictFloat, Bounds(gt=0, le=100)]


def normalize_symbol(symbol: str) -> str:
    """``BTC-USD`` / ``BTC/USD`` -> ``BTC/USD`` (freqtrade form); a bare base stays ``BTC``.

    Raises ``ValueError`` unless ``symbol`` is in one of the three accepted config forms.
    """
    if not isinstance(symbol, str) or not _SYMBOL_RE.match(symbol):
        raise ValueError(f"invalid symbol {symbol!r}: expected BTC-USD, BTC/USD or BTC")
    return to_pair(symbol)


def _overlap(a: str, b: str) -> bool:
    """Do two normalised symbols cover a common pair?"""
    if a == b:
        return True
    if "/" in a and "/" in b:
        return False
    return a.partition("/")[0] == b.partition("/")[0]


def _covers(rule: str, pair: str) -> bool:
    """Does normalised rule ``rule`` cover every pair that normalised ``pair`` covers?"""
    return rule == pair or ("/" not in rule and pair.partition("/")[0] == rule)


# --------------------------------------------------------------------------- policy.yaml

_FROZEN: Final = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class LiquidityConfig(BaseModel):
    """Universe liquidity rules shared by all tiers (fixes 2 and 3)."""

    model_config = _FROZEN

    min_24h_volume_usd: PositiveFloat = Field(
        3_000_000.0, description="Global fallback floor (USD) for symbols in no tier."
    )
    volume_source: VolumeSource = Field(
        "quote_first", description="Which 24h volume to trust; rollback switch of fix 2."
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


class RiskConfig(BaseModel):
    """Total at-risk cap and the trims that enforce it (fixes 1 and 8)."""

    model_config = _FROZEN

    max_total_at_risk_pct: Percent = Field(
        25.0,
        description="Cap on open positions as % of equity (fix 1; 80 was the emergency value).",
    )
    trim_interval_cycles: Annotated[StrictInt, Bounds(ge=1)] = Field(
        3, description="Trim at most every N cycles (fix 8)."
    )
    trim_timeout_seconds: PositiveFloat = Field(
        75.0, description="Time budget of one trim pass (fix 8)."
    )
    max_trims_per_cycle: Annotated[StrictInt, Bounds(ge=1)] = Field(
        3, description="Trim orders per cycle at most (fix 7 alerts above this)."
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
    # The original bot's two other limits (issue [M]); both off by default.
    max_per_theme_pct: dict[Text, Percent] = Field(
        default_factory=dict,
        description="At-risk cap per cluster of universe.yaml clusters.definitions, "
        "as % of equity (e.g. MEME: 4.0). Empty: no cluster caps.",
    )
    max_per_asset_pct: Percent | None = Field(
        None, description="At-risk cap per asset (all its pairs), as % of equity. null: off."
    )

    def to_core(self, trims: TrimsConfig, clusters: ClustersConfig) -> CapPolicy:
        """The core's cap policy; ``trims`` is the ``trims:`` section (its rollback switch),
        ``clusters`` the ``clusters:`` section of ``universe.yaml`` that the theme caps name."""
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
            groups=GroupLimits.from_definitions(
                clusters.definitions, self.max_per_theme_pct, self.max_per_asset_pct
            ),
        )


class TrimsConfig(BaseModel):
    model_config = _FROZEN

    enabled: StrictBool = Field(
        True, description="Rollback: false = never trim, only block new entries over the cap."
    )


class ShutdownConfig(BaseModel):
    """Graceful stop (fix 9)."""

    model_config = _FROZEN

    liquidate_on_stop: StrictBool = Field(False, description="Sell everything on stop.")
    liquidate_timeout_seconds: PositiveFloat = Field(
        30.0, description="Time budget of the liquidation on stop."
    )
    stop_grace_seconds: PositiveFloat = Field(
        5.0, description="SIGTERM grace period before a forced stop."
    )


class StaleDataConfig(BaseModel):
    """Entry guard against candles that stopped advancing (reliability suite, [F])."""

    model_config = _FROZEN

    block_entries: StrictBool = Field(
        True, description="Rollback: false = freqtrade's own check only (2 candles + 5 min)."
    )
    max_missing_candles: Annotated[StrictInt, Bounds(ge=0)] = Field(
        0, description="Closed candles the newest analyzed candle may lag behind now."
    )


PROTECTION_METHODS: Final = ("StoplossGuard", "MaxDrawdown", "CooldownPeriod", "LowProfitPairs")
_WINDOW_PARAMETERS: Final = frozenset(
    {"stop_duration", "stop_duration_candles", "unlock_at", "lookback_period",
     "lookback_period_candles"}
)
PROTECTION_PARAMETERS: Final[dict[str, frozenset[str]]] = {
    "StoplossGuard": _WINDOW_PARAMETERS
    | {"trade_limit", "only_per_pair", "only_per_side", "required_profit"},
    "MaxDrawdown": _WINDOW_PARAMETERS
    | {"trade_limit", "max_allowed_drawdown", "calculation_mode"},
    "CooldownPeriod": _WINDOW_PARAMETERS,
    "LowProfitPairs": _WINDOW_PARAMETERS | {"trade_limit", "required_profit", "only_per_side"},
}
"""Parameters of freqtrade 2026.9's own protections (freqtrade/plugins/protections/*.py)."""

_Minutes = Annotated[StrictInt, Bounds(ge=1)]


class ProtectionConfig(BaseModel):
    """One of freqtrade's own protections, in freqtrade's format (``method`` + its parameters).

    Freqtrade 2026.9 takes protections only from the strategy; ``trader247.protections``
    hands these to it after ``ExposureCap``, which is always there and must not be listed.
    Parameters a method does not know are reported by :func:`check_policy`.
    """

    model_config = _FROZEN

    method: StrictStr = Field(
        description="StoplossGuard, MaxDrawdown, CooldownPeriod or LowProfitPairs.",
        json_schema_extra={"enum": list(PROTECTION_METHODS)},
    )
    stop_duration: _Minutes | None = Field(None, description="Lock length in minutes.")
    stop_duration_candles: _Minutes | None = Field(None, description="Lock length in candles.")
    unlock_at: (
        Annotated[StrictStr, _Matches(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "a time HH:MM (UTC)")]
        | None
    ) = Field(None, description='Lock until this time of day, "HH:MM" UTC (quoted).')
    lookback_period: _Minutes | None = Field(None, description="Window in minutes.")
    lookback_period_candles: _Minutes | None = Field(None, description="Window in candles.")
    trade_limit: Annotated[StrictInt, Bounds(ge=1)] | None = Field(
        None, description="Trades needed in the window before the protection acts."
    )
    only_per_pair: StrictBool | None = Field(None, description="StoplossGuard: pair locks only.")
    only_per_side: StrictBool | None = Field(None, description="Lock only the losing side.")
    required_profit: Annotated[StrictFloat, Bounds(gt=-1)] | None = Field(
        None, description="Profit ratio below which a trade counts (0.0: any loss)."
    )
    max_allowed_drawdown: Annotated[StrictFloat, Bounds(ge=0, le=1)] | None = Field(
        None, description="MaxDrawdown: drawdown ratio that locks (0.1 = 10 %)."
    )
    calculation_mode: Literal["ratios", "equity"] | None = Field(
        None, description="MaxDrawdown: 'equity' is relative to the account balance."
    )

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method == "ExposureCap":
            raise PydanticCustomError(
                "exposure_cap_listed",
                "ExposureCap is always added by 247trader (first, from risk.*); remove it here",
            )
        if method not in PROTECTION_METHODS:
            hint = _closest(method, PROTECTION_METHODS)
            raise PydanticCustomError(
                "unknown_protection",
                "unknown protection {got}{hint} (expected one of {known})",
                {
                    "got": show_value(method),
                    "hint": f" (did you mean {hint}?)" if hint else "",
                    "known": ", ".join(PROTECTION_METHODS),
                },
            )
        return method

    @field_validator("unlock_at", mode="before")
    @classmethod
    def _quoted_time(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1440:
            # YAML 1.1 reads an unquoted 12:30 as the base-60 number 750.
            hint = f"{value // 60:02d}:{value % 60:02d}"
            raise PydanticCustomError(
                "unquoted_time",
                'must be a quoted time: unlock_at: "{hint}" (YAML read {hint} as the number {got})',
                {"hint": hint, "got": value},
            )
        return value

    def parameters(self) -> dict[str, Any]:
        """The parameters that are set, as freqtrade reads them (``method`` excluded)."""
        return {
            name: value
            for name, value in self.model_dump(exclude={"method"}).items()
            if value is not None
        }

    def to_freqtrade(self) -> dict[str, Any]:
        """``{"method": ..., <set parameters>}``: an entry of the strategy's ``protections``."""
        return {"method": self.method, **self.parameters()}


class MetricsConfig(BaseModel):
    """Prometheus exporter (fix 6)."""

    model_config = _FROZEN

    enabled: StrictBool = True
    host: Text = "127.0.0.1"
    port: Annotated[StrictInt, Bounds(ge=1, le=65535)] = 9090


POSTGRESQL_SCHEMES: Final = ("postgresql", "postgres")


def is_postgresql_url(url: str) -> bool:
    """``postgresql://``, ``postgresql+psycopg://``, ``postgres://`` (SQLAlchemy's spellings)."""
    return url.split(":", 1)[0].split("+", 1)[0] in POSTGRESQL_SCHEMES


class FleetConfig(BaseModel):
    """Several bots on one exchange account share ONE at-risk cap through PostgreSQL ([H]).

    Off by default: one bot needs no fleet. Each bot is a member under freqtrade's ``bot_name``.
    """

    model_config = _FROZEN

    enabled: StrictBool = Field(
        False, description="Share the cap with the other bots of this fleet (rollback: false)."
    )
    name: Annotated[StrictStr, _Matches(r"^[A-Za-z0-9_.-]{1,64}$",
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
    model_config = _FROZEN

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
    """``strategy:``: Trader247Strategy's guards against the trend filter's whipsaw (issue [S]).

    Structure, not tuning: hyperopt (``trader247 walk-forward``) tunes the trend length, band,
    momentum and stop inside whichever guards are set here. The defaults (market filter and a
    week's cooldown) were fixed before any out-of-sample result, from the diagnosis of the
    losses; README "Out-of-sample results" has every candidate's rows. Rollback to the issue-13
    strategy: market_filter false, reentry_cooldown_hours 0.
    """

    model_config = _FROZEN

    market_filter: StrictBool = Field(
        True,
        description="Enter only while BTC closes above its own trend mean (BTC/<stake>, else "
        "BTC/USD; the same buy_trend_ma_hours): cash while the market's trend is down.",
    )
    reentry_cooldown_hours: Annotated[StrictFloat, Bounds(ge=0, le=1000)] = Field(
        168.0,
        description="No entry while the close was below the exit band within this many hours "
        "(no buying back the breakout just sold). 0: off.",
    )
    exit: Literal["band", "trailing"] = Field(
        "band",
        description="band: leave when the close falls below the trend mean by the exit band "
        "(trend_lost); trailing: no band exit, the stoploss trails from the highest price.",
    )
    exit_band_scale: Annotated[StrictFloat, Bounds(ge=0, le=5)] = Field(
        1.0,
        description="Exit band = this x buy_trend_band_pct below the mean (1: symmetric; above 1 "
        "a slower exit than entry).",
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


# --------------------------------------------------------------------------- universe.yaml


class TierConstraints(BaseModel):
    model_config = _FROZEN

    min_24h_volume_usd: PositiveFloat = Field(
        description="USD volume floor of the tier (fix 3); tiers must not increase in file order."
    )
    force_eligible_symbols: tuple[Symbol, ...] = Field(
        (), description="Symbols of this tier that bypass liquidity checks (fix 4)."
    )


class Tier(BaseModel):
    model_config = _FROZEN

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
    """Asset clusters (themes) for ``risk.max_per_theme_pct``; an asset is in one cluster only."""

    model_config = _FROZEN

    definitions: dict[Text, tuple[Symbol, ...]] = Field(
        default_factory=dict,
        description="Cluster name -> assets (BTC, or a pair BTC-USD / BTC/USD: its base counts).",
    )


def asset_of(symbol: str) -> str:
    """The asset a config symbol stands for: ``DOGE-USD`` / ``DOGE/USD`` / ``DOGE`` -> ``DOGE``."""
    return normalize_symbol(symbol).partition("/")[0]


class ExclusionsConfig(BaseModel):
    model_config = _FROZEN

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


# --------------------------------------------------------------------------- cross checks


def _norm_or_none(symbol: str) -> str | None:
    try:
        return normalize_symbol(symbol)
    except ValueError:
        return None


@dataclass
class _Found:
    """Problems of one file, collected in order."""

    file: str
    items: list[Problem]

    def error(self, path: tuple[PathElem, ...], message: str) -> None:
        self.items.append(Problem(self.file, path, message))

    def warning(self, path: tuple[PathElem, ...], message: str) -> None:
        self.items.append(Problem(self.file, path, message, severity="warning"))


def check_policy(
    policy: PolicyConfig, *, dry_run: bool | None = None, file: str = "policy.yaml"
) -> list[Problem]:
    """Checks across fields of ``policy.yaml``; ``dry_run=None`` means "not known yet"."""
    found = _Found(file, [])
    risk = policy.risk
    cap = risk.max_total_at_risk_pct
    if risk.trim_band_pct >= cap:
        found.error(
            ("risk", "trim_band_pct"),
            f"must be < risk.max_total_at_risk_pct ({show_value(cap)}) "
            f"(got {show_value(risk.trim_band_pct)})",
        )
    if cap > LIVE_CAP_ACK_THRESHOLD_PCT and not risk.acknowledge_high_cap_live:
        why = (
            f"a live config with a cap above {show_value(LIVE_CAP_ACK_THRESHOLD_PCT)} needs "
            f"risk.acknowledge_high_cap_live: true (got {show_value(cap)}; fix 1 restored 25)"
        )
        if dry_run is False:
            found.error(("risk", "max_total_at_risk_pct"), why)
        elif dry_run is None:
            found.warning(("risk", "max_total_at_risk_pct"), why + "; fine for dry-run only")
    fleet = policy.fleet
    if fleet.enabled and fleet.db_url is not None and not is_postgresql_url(fleet.db_url):
        found.error(
            ("fleet", "db_url"),
            f"a fleet needs PostgreSQL (postgresql+psycopg://user:pass@host/db), got a "
            f"{fleet.db_url.split(':', 1)[0]!r} URL: SQLite cannot be shared between bots",
        )
    stakes: list[tuple[tuple[PathElem, ...], float]] = [
        (("sizing", "tier_stake_pct", name), pct)
        for name, pct in policy.sizing.tier_stake_pct.items()
    ]
    stakes.append((("sizing", "default_stake_pct"), policy.sizing.default_stake_pct))
    for path, pct in stakes:
        if pct > cap:
            found.warning(
                path,
                f"one entry of {show_value(pct)}% exceeds the at-risk cap "
                f"({show_value(cap)}%): such entries are always blocked",
            )
    _check_group_caps(policy, found)
    _check_protections(policy, found)
    return found.items


def _check_group_caps(policy: PolicyConfig, found: _Found) -> None:
    cap = policy.risk.max_total_at_risk_pct
    limits: list[tuple[tuple[PathElem, ...], float]] = [
        (("risk", "max_per_theme_pct", name), pct)
        for name, pct in policy.risk.max_per_theme_pct.items()
    ]
    if policy.risk.max_per_asset_pct is not None:
        limits.append((("risk", "max_per_asset_pct"), policy.risk.max_per_asset_pct))
    for path, pct in limits:
        if pct >= cap:
            found.warning(
                path,
                f"{show_value(pct)}% is not below risk.max_total_at_risk_pct "
                f"({show_value(cap)}%): this limit never binds",
            )


def _check_protections(policy: PolicyConfig, found: _Found) -> None:
    """Parameters a method does not take, and the pairs freqtrade refuses together."""
    exclusive = (
        ("stop_duration", "stop_duration_candles"),
        ("lookback_period", "lookback_period_candles"),
        ("unlock_at", "stop_duration"),
        ("unlock_at", "stop_duration_candles"),
    )
    for i, protection in enumerate(policy.protections):
        given = protection.parameters()
        allowed = PROTECTION_PARAMETERS[protection.method]
        for name in given:
            if name not in allowed:
                found.error(
                    ("protections", i, name),
                    f"not a parameter of {protection.method} "
                    f"(it takes {', '.join(sorted(allowed))})",
                )
        for first, second in exclusive:
            if first in given and second in given:
                found.error(
                    ("protections", i, second),
                    f"give {first} or {second}, not both (freqtrade refuses the pair)",
                )


def _as(written: str, other: str) -> str:
    return f" (as {other})" if other != written else ""


def check_universe(universe: UniverseConfig, *, file: str = "universe.yaml") -> list[Problem]:
    """Checks across tiers of ``universe.yaml``: floor order, one tier per symbol, force-eligible
    symbols inside their tier, no symbol both traded and never traded, no pair written without
    its dash (``ADAUSD``)."""
    found = _Found(file, [])
    _check_floor_order(universe, found)
    never = [(s, _norm_or_none(s)) for s in universe.exclusions.never_trade]
    seen: list[_Listed] = []
    for name, tier in universe.tiers.items():
        norms = [_norm_or_none(s) for s in tier.symbols]
        for i, (sym, norm) in enumerate(zip(tier.symbols, norms, strict=True)):
            if norm is None:
                continue
            listed = _Listed(name, i, sym, norm)
            _check_overlaps(listed, seen, found)
            seen.append(listed)
            for bad, bad_norm in never:
                if bad_norm is not None and _overlap(norm, bad_norm):
                    found.error(
                        listed.path,
                        f"{sym} is also in exclusions.never_trade{_as(sym, bad)}; "
                        "remove it from one of them",
                    )
        for i, sym in enumerate(tier.constraints.force_eligible_symbols):
            fnorm = _norm_or_none(sym)
            if fnorm is not None and not any(n is not None and _covers(n, fnorm) for n in norms):
                found.error(
                    ("tiers", name, "constraints", "force_eligible_symbols", i),
                    f"{sym} is not in this tier's symbols; a force-eligible symbol must belong "
                    "to its tier",
                )
    _check_clusters(universe, found)
    _check_glued(universe, found)
    return found.items


class _Listed(NamedTuple):
    """A symbol of a tier: where it is, as written and normalised."""

    tier: str
    position: int
    written: str
    norm: str

    @property
    def path(self) -> tuple[PathElem, ...]:
        return ("tiers", self.tier, "symbols", self.position)


def _check_floor_order(universe: UniverseConfig, found: _Found) -> None:
    prev: tuple[str, float] | None = None
    for name, tier in universe.tiers.items():
        floor = tier.constraints.min_24h_volume_usd
        if prev is not None and floor > prev[1]:
            found.error(
                ("tiers", name, "constraints", "min_24h_volume_usd"),
                f"must be <= the floor of the tier above ({prev[0]}: {show_value(prev[1])}); "
                f"tiers go from highest floor to lowest (got {show_value(floor)})",
            )
        prev = (name, floor)


def _check_overlaps(listed: _Listed, seen: list[_Listed], found: _Found) -> None:
    """``listed`` against every symbol listed before it: one tier per symbol."""
    sym, norm = listed.written, listed.norm
    for other in seen:
        if not _overlap(norm, other.norm):
            continue
        if other.tier == listed.tier and norm == other.norm:
            found.warning(
                listed.path,
                f"{sym} is listed twice in this tier (also at symbols[{other.position}])"
            )
        elif other.tier == listed.tier:
            continue  # BTC and BTC-USD in one tier: same floor either way
        elif norm == other.norm:
            found.error(
                listed.path,
                f"{sym} is already in tier {other.tier}{_as(sym, other.written)}; "
                "a symbol belongs to one tier only",
            )
        else:
            pair, bare = (sym, other.written) if "/" in norm else (other.written, sym)
            found.warning(
                listed.path,
                f"{sym} overlaps {other.written} of tier {other.tier}: the exact pair {pair} "
                f"takes its own tier's floor, other pairs of {bare} the bare base's",
            )


def _check_clusters(universe: UniverseConfig, found: _Found) -> None:
    """An asset belongs to one cluster: its at-risk would otherwise count against two caps."""
    home: dict[str, tuple[str, str]] = {}  # asset -> (cluster, as written)
    for name, symbols in universe.clusters.definitions.items():
        for i, sym in enumerate(symbols):
            norm = _norm_or_none(sym)
            if norm is None:
                continue
            asset = norm.partition("/")[0]
            path: tuple[PathElem, ...] = ("clusters", "definitions", name, i)
            if asset not in home:
                home[asset] = (name, sym)
            elif home[asset][0] == name:
                found.warning(path, f"{sym} is listed twice in cluster {name} (asset {asset})")
            else:
                other, written = home[asset]
                found.error(
                    path,
                    f"{sym} is already in cluster {other}{_as(sym, written)}; "
                    f"an asset belongs to one cluster only (asset {asset})",
                )


def universe_symbols(universe: UniverseConfig) -> list[tuple[tuple[PathElem, ...], str]]:
    """Every symbol of ``universe.yaml`` as written, with its key path."""
    out: list[tuple[tuple[PathElem, ...], str]] = []
    for name, tier in universe.tiers.items():
        out += [(("tiers", name, "symbols", i), s) for i, s in enumerate(tier.symbols)]
        out += [(("tiers", name, "constraints", "force_eligible_symbols", i), s)
                for i, s in enumerate(tier.constraints.force_eligible_symbols)]
    out += [(("exclusions", "never_trade", i), s)
            for i, s in enumerate(universe.exclusions.never_trade)]
    for name, symbols in universe.clusters.definitions.items():
        out += [(("clusters", "definitions", name, i), s) for i, s in enumerate(symbols)]
    return out


def _check_glued(universe: UniverseConfig, found: _Found) -> None:
    """``ADAUSD`` has the form of a bare base but is the pair ADA-USD without its dash: as a base
    it matches no market, and ADA/USD silently falls to the global floor and default sizing.
    Offline the known bases are those of this file's pairs and of the default universe; at bot
    start the pairlist checks every bare base against the exchange
    (:func:`check_symbols_on_exchange`)."""
    known = _pair_bases(universe) | _pair_bases(UniverseConfig())
    for path, sym in universe_symbols(universe):
        pair = glued_pair(sym, known)
        if pair is not None:
            found.error(path, f"{sym} is not a base currency: did you mean {pair}? (a bare "
                        "symbol is a base, every quote of it)")


def _pair_bases(universe: UniverseConfig) -> set[str]:
    norms = (_norm_or_none(s) for _, s in universe_symbols(universe))
    return {n.partition("/")[0] for n in norms if n is not None and "/" in n}


def check_symbols_on_exchange(universe: UniverseConfig, bases: Set[str], *,
                              file: str = "universe.yaml") -> list[Problem]:
    """Bare symbols that are no base currency of the exchange's markets (``bases``, all quotes):
    the pairlist's check at bot start. Errors: a glued pair (``did you mean ADA-USD?``) anywhere,
    and any such symbol of a tier (it decides floors and sizing). A plain unknown base in
    ``never_trade`` or a cluster is a warning: excluding or grouping a coin this exchange does
    not list (delisted, another venue's) changes nothing."""
    found = _Found(file, [])
    for path, sym in universe_symbols(universe):
        norm = _norm_or_none(sym)
        if norm is None or "/" in norm or norm in bases:
            continue
        pair = glued_pair(sym, bases)
        hint = f": did you mean {pair}?" if pair else ""
        report = found.error if pair or path[0] == "tiers" else found.warning
        report(path, f"{sym} is no base currency on the exchange{hint} (a bare symbol is a "
               "base, every quote of it)")
    return found.items


def cross_check(
    policy: PolicyConfig,
    universe: UniverseConfig,
    *,
    dry_run: bool | None,
    policy_file: str = "policy.yaml",
    universe_file: str = "universe.yaml",
) -> list[Problem]:
    """Every check across fields and files. Problems carry no line: the loader adds them."""
    in_policy = _Found(policy_file, check_policy(policy, dry_run=dry_run, file=policy_file))
    in_universe = _Found(universe_file, check_universe(universe, file=universe_file))
    for name in policy.sizing.tier_stake_pct:
        if name not in universe.tiers:
            hint = _closest(name, universe.tier_names)
            in_policy.warning(
                ("sizing", "tier_stake_pct", name),
                f"no tier {name} in {universe_file}"
                + (f" (did you mean {hint}?)" if hint else "")
                + "; its pairs get default_stake_pct",
            )
    clusters = universe.clusters.definitions
    for name in policy.risk.max_per_theme_pct:
        if name not in clusters:
            hint = _closest(name, clusters)
            in_policy.error(
                ("risk", "max_per_theme_pct", name),
                f"no cluster {name} in {universe_file} clusters.definitions"
                + (f" (did you mean {hint}?)" if hint else "")
                + (f"; defined: {', '.join(clusters)}" if clusters else "; none is defined"),
            )
    if policy.liquidity.exclude_stablecoin_bases:
        stable = set(policy.liquidity.stablecoins)
        for name, tier in universe.tiers.items():
            for i, sym in enumerate(tier.symbols):
                norm = _norm_or_none(sym)
                if norm is not None and norm.partition("/")[0] in stable:
                    in_universe.warning(
                        ("tiers", name, "symbols", i),
                        f"{sym} has a stablecoin base and liquidity.exclude_stablecoin_bases "
                        f"is true in {policy_file}: it will never be traded",
                    )
    return in_policy.items + in_universe.items


def _closest(word: str, candidates: Iterable[str]) -> str | None:
    hits = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return hits[0] if hits else None
