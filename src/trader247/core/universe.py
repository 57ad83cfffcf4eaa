"""Tiered USD-volume universe: which pairs may be traded, and why not.

Pure decisions over plain data (time passed in). The Freqtrade pairlist adapter calls
:func:`evaluate_universe` on every refresh and keeps the returned :class:`UniverseState` for the
next one; backtests apply the same rules candle by candle without look-ahead with
``trader247.core.universe_series``. The rules are :mod:`trader247.core.universe_rules`, the
values a refresh yields :mod:`trader247.core.universe_result`; both are re-exported here.

Production lessons encoded here (fixes 2-4 of 2025-11-15): volume is always real USD (see
``volume.py``), floors are per tier with a global fallback, tier-1 core assets can be forced
eligible, and a bad or stale data refresh keeps the last good universe instead of emptying it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from trader247.core.universe_result import (
    MarketInfo,
    PairDecision,
    UniverseResult,
    UniverseState,
    format_force_eligible_line,
    format_usd,
    market_from_ccxt,
)
from trader247.core.universe_rules import (
    PairClass,
    Reason,
    TierRule,
    UniverseRules,
    exit_floor,
    tier_of,
)
from trader247.core.volume import (
    TickerSnapshot,
    UsdVolume,
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
    # A kept whitelist keeps its order: without volumes the forced pairs would sort by name and
    # freqtrade would see (and log) a new whitelist although nothing changed.
    rank = {pair: i for i, pair in enumerate(prev_whitelist)}
    force_pairs = sorted(force_pairs, key=lambda pair: rank.get(pair, len(rank)))
    keep = {d.pair for d in found.volume if d.eligible}
    if not found.seen:  # no market data at all: nothing to filter the previous whitelist with
        keep = set(prev_whitelist)
    keep.difference_update(force_pairs)
    return tuple(force_pairs + [p for p in prev_whitelist if p in keep])


def _rule_decision(
    pair: str, cls: PairClass, tier: TierRule | None, rules: UniverseRules, reason: Reason,
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
