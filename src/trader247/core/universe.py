"""Tiered USD-volume universe: which pairs may be traded, and why not.

Pure decisions over plain data (time passed in). The Freqtrade pairlist adapter calls
:func:`evaluate_universe` on every refresh and keeps the returned :class:`UniverseState` for the
next one; backtests apply the same rules candle by candle without look-ahead with
``trader247.core.universe_series``.

Production lessons encoded here (fixes 2-4 of 2025-11-15): volume is always real USD (see
``volume.py``), floors are per tier with a global fallback, tier-1 core assets can be forced
eligible, and a bad or stale data refresh keeps the last good universe instead of emptying it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from trader247.core.symbols import SymbolSet, to_pair
from trader247.core.volume import (
    VOLUME_SOURCES,
    TickerSnapshot,
    UsdVolume,
    VolumeSource,
    build_usd_price_index,
    usd_volume,
)

__all__ = [
    "MarketInfo",
    "PairDecision",
    "Reason",
    "TierRule",
    "UniverseResult",
    "UniverseRules",
    "UniverseState",
    "evaluate_universe",
    "exit_floor",
    "format_force_eligible_line",
    "format_usd",
    "market_from_ccxt",
    "tier_of",
]

MIN_TICKER_COVERAGE: Final = 0.5
"""Share of the active markets that must have a fresh ticker with volume, else a data fault.
A constant of the fault detection, not a setting (no config key sets it)."""


class Reason(StrEnum):
    ELIGIBLE = "ELIGIBLE"
    FORCE_ELIGIBLE = "FORCE_ELIGIBLE"
    BELOW_TIER_FLOOR = "BELOW_TIER_FLOOR"
    BELOW_GLOBAL_FLOOR = "BELOW_GLOBAL_FLOOR"
    NO_USD_PRICE = "NO_USD_PRICE"
    EXCLUDED = "EXCLUDED"
    STABLECOIN = "STABLECOIN"
    INACTIVE_MARKET = "INACTIVE_MARKET"
    STALE_DATA = "STALE_DATA"


# --------------------------------------------------------------------------- rules


def _floor_value(value: float, what: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{what} must be a finite number > 0, got {value!r}")
    return number


def _norm_symbols(symbols: Iterable[str], what: str) -> frozenset[str]:
    if isinstance(symbols, str):
        raise ValueError(f"{what} must be a collection of symbols, got the string {symbols!r}")
    return frozenset(to_pair(s) for s in symbols)


@dataclass(frozen=True)
class TierRule:
    """One liquidity tier. Symbols are pairs (``BTC-USD`` / ``BTC/USD``) or bare bases (``BTC``),
    normalised on construction. Built by ``trader247.core.config.Tier.to_core``."""

    name: str
    symbols: frozenset[str]
    floor_usd: float
    force_eligible: frozenset[str]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"tier name must be a non-empty string, got {self.name!r}")
        symbols = _norm_symbols(self.symbols, f"tier {self.name}: symbols")
        force = _norm_symbols(self.force_eligible, f"tier {self.name}: force_eligible")
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "force_eligible", force)
        object.__setattr__(self, "floor_usd", _floor_value(self.floor_usd, f"tier {self.name}"))
        bases = {s.partition("/")[0] for s in symbols}
        for sym in sorted(force):
            covered = (
                sym in symbols
                or sym.partition("/")[0] in symbols
                or ("/" not in sym and sym in bases)
            )
            # A force entry outside its tier could never apply (force is looked up in the pair's
            # own tier): a config typo that would silently disable the override.
            if not covered:
                raise ValueError(
                    f"tier {self.name}: force_eligible symbol {sym} is not in the tier's symbols"
                )


class _PairClass(NamedTuple):
    """Everything about a pair that depends only on the rules, not on market data."""

    key: str | None  # normalised pair; None when the symbol is not a spot pair
    tier_idx: int | None
    forced: bool
    static_reason: Reason | None  # EXCLUDED / STABLECOIN, decided before any ticker is read
    static_detail: str


@dataclass(frozen=True)
class _RuleIndex:
    exact: Mapping[str, int]
    bare: Mapping[str, int]
    force: tuple[SymbolSet, ...]
    never_trade: SymbolSet
    # Memo of _PairClass per raw pair string: the same markets come back on every refresh, and
    # these look-ups are most of the per-pair cost. Rules are immutable, so it never goes stale.
    classes: dict[str, _PairClass] = field(default_factory=dict)


@dataclass(frozen=True)
class UniverseRules:
    """Everything the universe decision needs. No defaults: the one set lives in the config
    models (``liquidity:`` of ``policy.yaml``, ``universe.yaml``), and
    ``trader247.core.config.UniverseConfig.to_core`` builds this object."""

    tiers: tuple[TierRule, ...]
    global_floor_usd: float
    never_trade: frozenset[str]
    stablecoins: frozenset[str]
    exclude_stablecoin_bases: bool
    exit_band: float
    min_universe_size: int
    pegged_quotes: frozenset[str]
    volume_source: VolumeSource
    suspect_ratio: float
    _index: _RuleIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tiers = tuple(self.tiers)
        for tier in tiers:
            if not isinstance(tier, TierRule):
                raise ValueError(f"tiers must hold TierRule objects, got {tier!r}")
        names = [t.name for t in tiers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate tier names: {dupes}")
        exact: dict[str, int] = {}
        bare: dict[str, int] = {}
        for i, tier in enumerate(tiers):
            for sym in tier.symbols:
                target = exact if "/" in sym else bare
                if sym in target:
                    # Same spelling in two tiers: which floor applies would depend on tier order.
                    raise ValueError(
                        f"symbol {sym} is listed in tiers {tiers[target[sym]].name} and {tier.name}"
                    )
                target[sym] = i
        set_ = object.__setattr__
        set_(self, "tiers", tiers)
        set_(self, "global_floor_usd", _floor_value(self.global_floor_usd, "global_floor_usd"))
        set_(self, "never_trade", _norm_symbols(self.never_trade, "never_trade"))
        set_(self, "stablecoins", frozenset(s.strip().upper() for s in self.stablecoins))
        set_(self, "pegged_quotes", frozenset(s.strip().upper() for s in self.pegged_quotes))
        band = float(self.exit_band)
        if not 0.0 <= band < 1.0:
            raise ValueError(f"exit_band must be in [0, 1), got {self.exit_band!r}")
        set_(self, "exit_band", band)
        if isinstance(self.min_universe_size, bool) or int(self.min_universe_size) < 0:
            raise ValueError(f"min_universe_size must be >= 0, got {self.min_universe_size!r}")
        set_(self, "min_universe_size", int(self.min_universe_size))
        if self.volume_source not in VOLUME_SOURCES:
            raise ValueError(
                f"volume_source must be one of {VOLUME_SOURCES}, got {self.volume_source!r}"
            )
        ratio = float(self.suspect_ratio)
        if not ratio > 1.0:  # also rejects NaN
            raise ValueError(f"suspect_ratio must be > 1, got {self.suspect_ratio!r}")
        set_(self, "suspect_ratio", ratio)
        set_(
            self,
            "_index",
            _RuleIndex(
                exact=MappingProxyType(exact),
                bare=MappingProxyType(bare),
                force=tuple(SymbolSet.of(t.force_eligible) for t in tiers),
                never_trade=SymbolSet.of(self.never_trade),
            ),
        )

    def tier_index(self, pair: str) -> int | None:
        """Index into ``tiers`` for a normalised pair: an exact pair entry beats a bare base."""
        idx = self._index.exact.get(pair)
        if idx is None:
            idx = self._index.bare.get(pair.partition("/")[0])
        return idx

    def _classify(self, pair: str) -> _PairClass:
        cached = self._index.classes.get(pair)
        if cached is not None:
            return cached
        try:
            key = to_pair(pair)
        except ValueError:
            result = _PairClass(None, None, False, Reason.EXCLUDED, "unrecognised symbol")
        else:
            idx = self.tier_index(key)
            forced = idx is not None and self._index.force[idx].matches(key)
            base = key.partition("/")[0]
            reason: Reason | None = None
            detail = ""
            if self._index.never_trade.matches(key):
                reason, detail = Reason.EXCLUDED, "never_trade"
            elif self.exclude_stablecoin_bases and base in self.stablecoins:
                reason, detail = Reason.STABLECOIN, f"stablecoin base {base}"
            result = _PairClass(key, idx, forced, reason, detail)
        if len(self._index.classes) < 50_000:  # bound memory against unbounded symbol churn
            self._index.classes[pair] = result
        return result


def tier_of(pair: str, rules: UniverseRules) -> TierRule | None:
    """The tier covering ``pair`` (any spelling), exact pair entries before bare-base entries."""
    idx = rules.tier_index(to_pair(pair))
    return None if idx is None else rules.tiers[idx]


def exit_floor(floor: float, exit_band: float) -> float:
    """Volume below which an eligible pair leaves. Rounded to cents so that boundaries are exact
    money amounts rather than artefacts of ``0.9`` not being representable in binary."""
    return round(floor * (1.0 - exit_band), 2)


# --------------------------------------------------------------------------- markets / decisions


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


# --------------------------------------------------------------------------- evaluation


def evaluate_universe(
    markets: Iterable[MarketInfo] | Mapping[str, MarketInfo],
    tickers: Mapping[str, TickerSnapshot],
    rules: UniverseRules,
    previous: UniverseState | None,
    *,
    now: float,
    max_ticker_age_s: float,
    min_ticker_coverage: float = MIN_TICKER_COVERAGE,
    usd_price_of: Callable[[str], float | None] | None = None,
) -> UniverseResult:
    """Decide every candidate market.

    Check order per pair: inactive market, never_trade, stablecoin base, force-eligible (no
    volume or price needed), missing/stale ticker (holds the previous eligibility), no USD price,
    floor with hysteresis. ``tickers`` is keyed by the market's pair string and may hold more
    pairs than ``markets`` (e.g. BTC/USD to price ETH/BTC). ``usd_price_of`` defaults to an index
    built from ``tickers``.

    Data faults - no markets, no tickers, fewer than ``min_ticker_coverage`` of the active
    markets with a fresh ticker or with any volume figure in it, or a result that would empty a
    non-empty universe - keep the previous whitelist (minus pairs that are now inactive or
    excluded by rule) and mark the affected decisions ``STALE_DATA``. Force-eligible pairs never
    depend on tickers.
    """
    market_iter = markets.values() if isinstance(markets, Mapping) else markets
    prev_whitelist = previous.whitelist if previous is not None else ()
    prev_eligible = previous.eligible if previous is not None else frozenset()
    price_of = usd_price_of or build_usd_price_index(tickers.values(), rules.pegged_quotes)

    decisions: list[PairDecision] = []
    errors: list[str] = []
    tiers_map: dict[str, str] = {}
    forced_ok: list[tuple[int, PairDecision]] = []
    # Volume decisions are computed in the same pass and thrown away on a fault (rare), which
    # keeps the common path to one loop over ~800 markets.
    dynamic: list[tuple[str, TierRule | None, TickerSnapshot | None]] = []
    volume_decisions: list[PairDecision] = []
    seen: set[str] = set()
    n_active = n_fresh = n_missing = n_no_volume = 0

    for m in market_iter:
        pair = m.pair
        if pair in seen:
            continue
        seen.add(pair)
        cls = rules._classify(pair)
        idx = cls.tier_idx
        tier = None if idx is None else rules.tiers[idx]
        if tier is not None:
            tiers_map[pair] = tier.name
        ticker = tickers.get(pair)
        fresh = ticker is not None and (
            ticker.timestamp is None or now - ticker.timestamp <= max_ticker_age_s
        )
        if m.active:
            n_active += 1
            if ticker is None:
                n_missing += 1
            elif fresh:
                n_fresh += 1
                # One pair without volume is NO_USD_PRICE; most of them is the exchange
                # dropping the fields, a data fault (coverage below).
                if ticker.quote_volume is None and ticker.base_volume is None:
                    n_no_volume += 1
        floor = rules.global_floor_usd if tier is None else tier.floor_usd
        tier_name = None if tier is None else tier.name
        if not m.active:
            decisions.append(
                PairDecision(
                    pair,
                    False,
                    Reason.INACTIVE_MARKET,
                    tier_name,
                    None,
                    None if cls.key is None else floor,
                    "market inactive",
                    force_listed=cls.forced,
                )
            )
            if cls.forced:
                errors.append(f"FORCE_ELIGIBLE_INACTIVE: pair={pair} tier={tier_name}")
            continue
        if cls.static_reason is not None:
            decisions.append(
                PairDecision(
                    pair,
                    False,
                    cls.static_reason,
                    tier_name,
                    None,
                    None if cls.key is None else floor,
                    cls.static_detail,
                    force_listed=cls.forced,
                )
            )
            continue
        if cls.forced and idx is not None:
            vol = None if ticker is None else _usd(ticker, price_of, rules)
            decision = PairDecision(
                pair,
                True,
                Reason.FORCE_ELIGIBLE,
                tier_name,
                None if vol is None else vol.usd,
                floor,
                "force-eligible: liquidity checks bypassed",
                force_listed=True,
                volume_suspect=vol is not None and vol.suspect,
            )
            forced_ok.append((idx, decision))
            continue
        dynamic.append((pair, tier, ticker))
        volume_decisions.append(
            _volume_decision(pair, tier, ticker, fresh, price_of, rules, pair in prev_eligible)
        )

    fault: str | None = None
    if not seen:
        fault = "reason=no_markets"
    elif n_active and not tickers:
        fault = "reason=no_tickers"
    elif n_active and n_fresh < min_ticker_coverage * n_active:
        n_stale = n_active - n_fresh - n_missing
        kind = "tickers_missing" if n_missing >= n_stale else "tickers_stale"
        fault = f"reason={kind} fresh={n_fresh}/{n_active} max_age_s={max_ticker_age_s:g}"
    elif n_active and n_fresh - n_no_volume < min_ticker_coverage * n_active:
        fault = f"reason=tickers_without_volume without={n_no_volume}/{n_active}"
    elif prev_whitelist and not forced_ok and not any(d.eligible for d in volume_decisions):
        fault = "reason=empty_result"
    if fault is not None:
        held = frozenset(prev_whitelist)
        volume_decisions = [
            _held_decision(pair, tier, ticker, price_of, rules, pair in held, fault)
            for pair, tier, ticker in dynamic
        ]

    forced_ok.sort(key=lambda item: (item[0], -(item[1].usd_volume or -1.0), item[1].pair))
    force_pairs = [d.pair for _, d in forced_ok]
    if fault is None:
        others = sorted(
            (d for d in volume_decisions if d.eligible),
            key=lambda d: (d.usd_volume is None, -(d.usd_volume or 0.0), d.pair),
        )
        whitelist = tuple(force_pairs + [d.pair for d in others])
    else:
        keep = {d.pair for d in volume_decisions if d.eligible}
        if not seen:  # no market data at all: nothing to filter the previous whitelist with
            keep = set(prev_whitelist)
        keep.difference_update(force_pairs)
        whitelist = tuple(force_pairs + [p for p in prev_whitelist if p in keep])

    decisions.extend(d for _, d in forced_ok)
    decisions.extend(volume_decisions)
    warnings: list[str] = []
    if fault is not None:
        warnings.append(
            f"UNIVERSE_KEPT: {fault} kept={len(whitelist)}"
            + ("" if previous is not None else " previous=none")
        )
    if len(whitelist) < rules.min_universe_size:
        warnings.append(f"UNIVERSE_SMALL: eligible={len(whitelist)} min={rules.min_universe_size}")

    force_now = frozenset(force_pairs)
    force_before = previous.force_eligible if previous is not None else frozenset()
    if fault is None:
        last_good: float | None = float(now)
    else:
        last_good = previous.last_good_at if previous is not None else None
    state = UniverseState(
        eligible=frozenset(whitelist),
        force_eligible=force_now,
        whitelist=whitelist,
        timestamp=float(now),
        last_good_at=last_good,
    )
    return UniverseResult(
        decisions=tuple(decisions),
        whitelist=whitelist,
        tiers=MappingProxyType(tiers_map),
        warnings=tuple(warnings),
        force_changes=tuple(sorted(force_now ^ force_before)),
        state=state,
        errors=tuple(errors),
        kept=fault is not None,
    )


def _usd(
    ticker: TickerSnapshot, price_of: Callable[[str], float | None], rules: UniverseRules
) -> UsdVolume:
    return usd_volume(
        ticker,
        price_of,
        pegged_quotes=rules.pegged_quotes,
        source=rules.volume_source,
        suspect_ratio=rules.suspect_ratio,
    )


def _volume_decision(
    pair: str,
    tier: TierRule | None,
    ticker: TickerSnapshot | None,
    fresh: bool,
    price_of: Callable[[str], float | None],
    rules: UniverseRules,
    was_eligible: bool,
) -> PairDecision:
    tier_name = None if tier is None else tier.name
    floor = rules.global_floor_usd if tier is None else tier.floor_usd
    if ticker is None or not fresh:
        why = "ticker missing" if ticker is None else "ticker stale"
        return PairDecision(
            pair,
            was_eligible,
            Reason.STALE_DATA,
            tier_name,
            None,
            floor,
            f"{why}; holding previous eligibility",
        )
    vol = _usd(ticker, price_of, rules)
    usd, suspect = vol.usd, vol.suspect
    if usd is None:
        return PairDecision(
            pair,
            False,
            Reason.NO_USD_PRICE,
            tier_name,
            None,
            floor,
            vol.detail,
            volume_suspect=suspect,
        )
    if usd >= floor:
        return PairDecision(
            pair, True, Reason.ELIGIBLE, tier_name, usd, floor, vol.detail, volume_suspect=suspect
        )
    leave_below = exit_floor(floor, rules.exit_band)
    if was_eligible and usd >= leave_below:
        detail = f"within exit band (exit below {leave_below:.2f}); {vol.detail}"
        return PairDecision(
            pair, True, Reason.ELIGIBLE, tier_name, usd, floor, detail, volume_suspect=suspect
        )
    below = Reason.BELOW_GLOBAL_FLOOR if tier is None else Reason.BELOW_TIER_FLOOR
    why = f"below exit floor {leave_below:.2f}" if was_eligible else "below floor"
    return PairDecision(
        pair, False, below, tier_name, usd, floor, f"{why}; {vol.detail}", volume_suspect=suspect
    )


def _held_decision(
    pair: str,
    tier: TierRule | None,
    ticker: TickerSnapshot | None,
    price_of: Callable[[str], float | None],
    rules: UniverseRules,
    held: bool,
    fault: str,
) -> PairDecision:
    vol = None if ticker is None else _usd(ticker, price_of, rules)
    return PairDecision(
        pair,
        held,
        Reason.STALE_DATA,
        None if tier is None else tier.name,
        None if vol is None else vol.usd,
        rules.global_floor_usd if tier is None else tier.floor_usd,
        f"universe kept ({fault}); {'still' if held else 'not'} in previous whitelist",
        volume_suspect=vol is not None and vol.suspect,
    )
