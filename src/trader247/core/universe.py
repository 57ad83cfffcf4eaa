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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from trader247.core.symbols import SymbolSet, to_pair
from trader247.core.volume import (
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


def _norm_symbols(symbols: Iterable[str], what: str) -> frozenset[str]:
    if isinstance(symbols, str):
        raise ValueError(f"{what} must be a collection of symbols, got the string {symbols!r}")
    return frozenset(to_pair(s) for s in symbols)


@dataclass(frozen=True)
class TierRule:
    """One liquidity tier. Symbols are pairs (``BTC-USD`` / ``BTC/USD``) or bare bases (``BTC``),
    normalised on construction. Built by ``trader247.core.config.Tier.to_core``, whose model
    declares the name's and the floor's range: this object trusts them and checks only the
    rule across fields (a force-eligible symbol inside the tier)."""

    name: str
    symbols: frozenset[str]
    floor_usd: float
    force_eligible: frozenset[str]

    def __post_init__(self) -> None:
        symbols = _norm_symbols(self.symbols, f"tier {self.name}: symbols")
        force = _norm_symbols(self.force_eligible, f"tier {self.name}: force_eligible")
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "force_eligible", force)
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
    # Base asset of every force-eligible symbol -> its tier: ``ETH-USD`` forces ETH/BTC too.
    force_bases: Mapping[str, int] = field(default_factory=dict)
    # Memo of _PairClass per raw pair string: the same markets come back on every refresh, and
    # these look-ups are most of the per-pair cost. Rules are immutable, so it never goes stale.
    classes: dict[str, _PairClass] = field(default_factory=dict)


@dataclass(frozen=True)
class UniverseRules:
    """Everything the universe decision needs. No defaults: the one set lives in the config
    models (``liquidity:`` of ``policy.yaml``, ``universe.yaml``), and
    ``trader247.core.config.UniverseConfig.to_core`` builds this object. Single fields' ranges
    (floors, exit band, minimum size, suspect ratio, volume source) are the models' and trusted
    here; ``__post_init__`` normalises symbols and checks what spans tiers."""

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
        set_(self, "never_trade", _norm_symbols(self.never_trade, "never_trade"))
        set_(self, "stablecoins", frozenset(s.strip().upper() for s in self.stablecoins))
        set_(self, "pegged_quotes", frozenset(s.strip().upper() for s in self.pegged_quotes))
        set_(
            self,
            "_index",
            _RuleIndex(
                exact=MappingProxyType(exact),
                bare=MappingProxyType(bare),
                force=tuple(SymbolSet.of(t.force_eligible) for t in tiers),
                never_trade=SymbolSet.of(self.never_trade),
                force_bases=MappingProxyType({
                    sym.partition("/")[0]: i
                    for i in reversed(range(len(tiers))) for sym in tiers[i].force_eligible}),
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
            # Force-eligible is about the asset, whatever the quote (issue 13): with a BTC stake
            # ETH/BTC is as core as ETH/USD. The pair takes the tier of its force entry.
            force_idx = self._index.force_bases.get(base)
            if not forced and force_idx is not None and idx in (None, force_idx):
                forced, idx = True, force_idx
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
    """Decide every candidate market: classify, detect a data fault, assemble the result.

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
    price_of = usd_price_of or build_usd_price_index(tickers.values(), rules.pegged_quotes)
    found = _classify_markets(
        markets.values() if isinstance(markets, Mapping) else markets,
        tickers, rules, previous, now=now, max_ticker_age_s=max_ticker_age_s, price_of=price_of,
    )
    prev_whitelist = previous.whitelist if previous is not None else ()
    fault = _detect_fault(found, bool(tickers), prev_whitelist, min_ticker_coverage,
                          max_ticker_age_s)
    if fault is not None:
        held = frozenset(prev_whitelist)
        found.volume = [
            _held_decision(pair, tier, ticker, price_of, rules, pair in held, fault)
            for pair, tier, ticker in found.dynamic
        ]
    return _assemble(found, fault, rules, previous, now)


@dataclass(eq=False)
class _Classified:
    """What one pass over the markets found (internal, filled by :func:`_classify_markets`).

    ``volume``: the volume decisions, computed in the same pass and thrown away on a data fault
    (rare), which keeps the common path to one loop over ~800 markets; ``dynamic`` holds what
    is needed to decide those pairs again.
    """

    decisions: list[PairDecision] = field(default_factory=list)  # inactive or excluded by rule
    forced: list[tuple[int, PairDecision]] = field(default_factory=list)  # (tier index, ...)
    dynamic: list[tuple[str, TierRule | None, TickerSnapshot | None]] = field(
        default_factory=list)
    volume: list[PairDecision] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tiers: dict[str, str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    active: int = 0
    fresh: int = 0
    missing: int = 0
    no_volume: int = 0


def _classify_markets(
    markets: Iterable[MarketInfo],
    tickers: Mapping[str, TickerSnapshot],
    rules: UniverseRules,
    previous: UniverseState | None,
    *,
    now: float,
    max_ticker_age_s: float,
    price_of: Callable[[str], float | None],
) -> _Classified:
    """Stage 1: every market's decision, and the ticker coverage counts fault detection needs."""
    prev_eligible = previous.eligible if previous is not None else frozenset()
    found = _Classified()
    for m in markets:
        pair = m.pair
        if pair in found.seen:
            continue
        found.seen.add(pair)
        cls = rules._classify(pair)
        tier = None if cls.tier_idx is None else rules.tiers[cls.tier_idx]
        if tier is not None:
            found.tiers[pair] = tier.name
        if not m.active:
            found.decisions.append(_rule_decision(pair, cls, tier, rules, Reason.INACTIVE_MARKET,
                                                  "market inactive"))
            if cls.forced:
                found.errors.append(
                    f"FORCE_ELIGIBLE_INACTIVE: pair={pair} tier={found.tiers.get(pair)}")
            continue
        ticker = tickers.get(pair)
        fresh = ticker is not None and (
            ticker.timestamp is None or now - ticker.timestamp <= max_ticker_age_s
        )
        found.active += 1
        if ticker is None:
            found.missing += 1
        elif fresh:
            found.fresh += 1
            # One pair without volume is NO_USD_PRICE; most of them is the exchange dropping
            # the fields, a data fault (coverage in _detect_fault).
            if ticker.quote_volume is None and ticker.base_volume is None:
                found.no_volume += 1
        if cls.static_reason is not None:
            found.decisions.append(_rule_decision(pair, cls, tier, rules, cls.static_reason,
                                                  cls.static_detail))
        elif cls.forced and cls.tier_idx is not None:
            found.forced.append((cls.tier_idx, _forced_decision(pair, tier, ticker, price_of,
                                                                rules)))
        else:
            found.dynamic.append((pair, tier, ticker))
            found.volume.append(_volume_decision(pair, tier, ticker, fresh, price_of, rules,
                                                 pair in prev_eligible))
    return found


def _detect_fault(
    found: _Classified,
    have_tickers: bool,
    prev_whitelist: Sequence[str],
    min_ticker_coverage: float,
    max_ticker_age_s: float,
) -> str | None:
    """Stage 2: the ``reason=...`` of a data fault that must keep the previous whitelist."""
    active, fresh = found.active, found.fresh
    if not found.seen:
        return "reason=no_markets"
    if active and not have_tickers:
        return "reason=no_tickers"
    if active and fresh < min_ticker_coverage * active:
        stale = active - fresh - found.missing
        kind = "tickers_missing" if found.missing >= stale else "tickers_stale"
        return f"reason={kind} fresh={fresh}/{active} max_age_s={max_ticker_age_s:g}"
    if active and fresh - found.no_volume < min_ticker_coverage * active:
        return f"reason=tickers_without_volume without={found.no_volume}/{active}"
    if prev_whitelist and not found.forced and not any(d.eligible for d in found.volume):
        return "reason=empty_result"
    return None


def _assemble(
    found: _Classified,
    fault: str | None,
    rules: UniverseRules,
    previous: UniverseState | None,
    now: float,
) -> UniverseResult:
    """Stage 3: the whitelist (force-eligible first, tier order), warnings and the new state."""
    found.forced.sort(key=lambda item: (item[0], -(item[1].usd_volume or -1.0), item[1].pair))
    force_pairs = [d.pair for _, d in found.forced]
    whitelist = _whitelist(found, fault, force_pairs, previous)
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
        decisions=(*found.decisions, *(d for _, d in found.forced), *found.volume),
        whitelist=whitelist,
        tiers=MappingProxyType(found.tiers),
        warnings=tuple(warnings),
        force_changes=tuple(sorted(force_now ^ force_before)),
        state=state,
        errors=tuple(found.errors),
        kept=fault is not None,
    )


def _whitelist(
    found: _Classified, fault: str | None, force_pairs: list[str], previous: UniverseState | None
) -> tuple[str, ...]:
    if fault is None:
        others = sorted(
            (d for d in found.volume if d.eligible),
            key=lambda d: (d.usd_volume is None, -(d.usd_volume or 0.0), d.pair),
        )
        return tuple(force_pairs + [d.pair for d in others])
    prev_whitelist = previous.whitelist if previous is not None else ()
    keep = {d.pair for d in found.volume if d.eligible}
    if not found.seen:  # no market data at all: nothing to filter the previous whitelist with
        keep = set(prev_whitelist)
    keep.difference_update(force_pairs)
    return tuple(force_pairs + [p for p in prev_whitelist if p in keep])


def _rule_decision(
    pair: str, cls: _PairClass, tier: TierRule | None, rules: UniverseRules, reason: Reason,
    detail: str,
) -> PairDecision:
    """A pair decided by the rules or the market alone (inactive, never_trade, stablecoin)."""
    floor = rules.global_floor_usd if tier is None else tier.floor_usd
    return PairDecision(
        pair,
        False,
        reason,
        None if tier is None else tier.name,
        None,
        None if cls.key is None else floor,
        detail,
        force_listed=cls.forced,
    )


def _forced_decision(
    pair: str,
    tier: TierRule | None,
    ticker: TickerSnapshot | None,
    price_of: Callable[[str], float | None],
    rules: UniverseRules,
) -> PairDecision:
    vol = None if ticker is None else _usd(ticker, price_of, rules)
    return PairDecision(
        pair,
        True,
        Reason.FORCE_ELIGIBLE,
        None if tier is None else tier.name,
        None if vol is None else vol.usd,
        rules.global_floor_usd if tier is None else tier.floor_usd,
        "force-eligible: liquidity checks bypassed",
        force_listed=True,
        volume_suspect=vol is not None and vol.suspect,
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
