"""The universe's rules: tiers, exclusions and stablecoins, indexed for the per-pair look-up.

Built by ``trader247.core.config.UniverseConfig.to_core`` (no defaults here). Which tier a pair
belongs to is decided only here (:func:`tier_of`): an exact pair entry beats a bare base, and a
force-eligible asset is forced whatever its quote. :mod:`trader247.core.universe` evaluates
markets against these rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from trader247.core.symbols import SymbolSet, to_pair
from trader247.core.volume import VolumeSource

__all__ = ["PairClass", "Reason", "TierRule", "UniverseRules", "exit_floor", "tier_of"]


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


class PairClass(NamedTuple):
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
    # Memo of PairClass per raw pair string: the same markets come back on every refresh, and
    # these look-ups are most of the per-pair cost. Rules are immutable, so it never goes stale.
    classes: dict[str, PairClass] = field(default_factory=dict)


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

    def _classify(self, pair: str) -> PairClass:
        cached = self._index.classes.get(pair)
        if cached is not None:
            return cached
        try:
            key = to_pair(pair)
        except ValueError:
            result = PairClass(None, None, False, Reason.EXCLUDED, "unrecognised symbol")
        else:
            idx = self.tier_index(key)
            forced = idx is not None and self._index.force[idx].matches(key)
            base = key.partition("/")[0]
            # Force-eligible is about the asset, whatever the quote: with a BTC stake
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
            result = PairClass(key, idx, forced, reason, detail)
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
