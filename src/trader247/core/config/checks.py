"""Checks that span fields or files of ``policy.yaml`` and ``universe.yaml``.

Tier floor order, one tier per symbol, force-eligible symbols inside their tier, trim band below
the cap, the live high-cap acknowledgement, one cluster per asset, bare symbols that are glued
pairs. Each returns every :class:`Problem` rather than stopping at the first one. An exact pair
in one tier and its bare base in another is a warning, not an error: the universe core resolves
it (an exact entry beats a bare base).
"""

from __future__ import annotations

from collections.abc import Set
from typing import NamedTuple

from trader247.core.config.fields import covers, norm_or_none, overlap
from trader247.core.config.policy import LIVE_CAP_ACK_THRESHOLD_PCT, PolicyConfig, is_postgresql_url
from trader247.core.config.problems import Found, PathElem, Problem, closest, show_value
from trader247.core.config.protections import PROTECTION_PARAMETERS
from trader247.core.config.universe import UniverseConfig
from trader247.core.symbols import asset_of, glued_pair

__all__ = [
    "check_policy",
    "check_symbols_on_exchange",
    "check_universe",
    "cross_check",
    "universe_symbols",
]





def check_policy(
    policy: PolicyConfig, *, dry_run: bool | None = None, file: str = "policy.yaml"
) -> list[Problem]:
    """Checks across fields of ``policy.yaml``; ``dry_run=None`` means "not known yet"."""
    found = Found(file, [])
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
            f"risk.acknowledge_high_cap_live: true (got {show_value(cap)}; 25 is the live cap of "
            "the original bot)"
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
    _check_cluster_caps(policy, found)
    _check_protections(policy, found)
    return found.items


def _check_cluster_caps(policy: PolicyConfig, found: Found) -> None:
    cap = policy.risk.max_total_at_risk_pct
    limits: list[tuple[tuple[PathElem, ...], float]] = [
        (("risk", "max_per_cluster_pct", name), pct)
        for name, pct in policy.risk.max_per_cluster_pct.items()
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


def _check_protections(policy: PolicyConfig, found: Found) -> None:
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
    found = Found(file, [])
    _check_floor_order(universe, found)
    never = [(s, norm_or_none(s)) for s in universe.exclusions.never_trade]
    seen: list[_Listed] = []
    for name, tier in universe.tiers.items():
        norms = [norm_or_none(s) for s in tier.symbols]
        for i, (sym, norm) in enumerate(zip(tier.symbols, norms, strict=True)):
            if norm is None:
                continue
            listed = _Listed(name, i, sym, norm)
            _check_overlaps(listed, seen, found)
            seen.append(listed)
            for bad, bad_norm in never:
                if bad_norm is not None and overlap(norm, bad_norm):
                    found.error(
                        listed.path,
                        f"{sym} is also in exclusions.never_trade{_as(sym, bad)}; "
                        "remove it from one of them",
                    )
        for i, sym in enumerate(tier.constraints.force_eligible_symbols):
            fnorm = norm_or_none(sym)
            if fnorm is not None and not any(n is not None and covers(n, fnorm) for n in norms):
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


def _check_floor_order(universe: UniverseConfig, found: Found) -> None:
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


def _check_overlaps(listed: _Listed, seen: list[_Listed], found: Found) -> None:
    """``listed`` against every symbol listed before it: one tier per symbol."""
    sym, norm = listed.written, listed.norm
    for other in seen:
        if not overlap(norm, other.norm):
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


def _check_clusters(universe: UniverseConfig, found: Found) -> None:
    """An asset belongs to one cluster: its at-risk would otherwise count against two caps."""
    home: dict[str, tuple[str, str]] = {}  # asset -> (cluster, as written)
    for name, symbols in universe.clusters.definitions.items():
        for i, sym in enumerate(symbols):
            norm = norm_or_none(sym)
            if norm is None:
                continue
            asset = asset_of(norm)
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


def _check_glued(universe: UniverseConfig, found: Found) -> None:
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
    norms = (norm_or_none(s) for _, s in universe_symbols(universe))
    return {asset_of(n) for n in norms if n is not None and "/" in n}


def check_symbols_on_exchange(universe: UniverseConfig, bases: Set[str], *,
                              file: str = "universe.yaml") -> list[Problem]:
    """Bare symbols that are no base currency of the exchange's markets (``bases``, all quotes):
    the pairlist's check at bot start. Errors: a glued pair (``did you mean ADA-USD?``) anywhere,
    and any such symbol of a tier (it decides floors and sizing). A plain unknown base in
    ``never_trade`` or a cluster is a warning: excluding or grouping a coin this exchange does
    not list (delisted, another venue's) changes nothing."""
    found = Found(file, [])
    for path, sym in universe_symbols(universe):
        norm = norm_or_none(sym)
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
    in_policy = Found(policy_file, check_policy(policy, dry_run=dry_run, file=policy_file))
    in_universe = Found(universe_file, check_universe(universe, file=universe_file))
    for name in policy.sizing.tier_stake_pct:
        if name not in universe.tiers:
            hint = closest(name, universe.tier_names)
            in_policy.warning(
                ("sizing", "tier_stake_pct", name),
                f"no tier {name} in {universe_file}"
                + (f" (did you mean {hint}?)" if hint else "")
                + "; its pairs get default_stake_pct",
            )
    clusters = universe.clusters.definitions
    for name in policy.risk.max_per_cluster_pct:
        if name not in clusters:
            hint = closest(name, clusters)
            in_policy.error(
                ("risk", "max_per_cluster_pct", name),
                f"no cluster {name} in {universe_file} clusters.definitions"
                + (f" (did you mean {hint}?)" if hint else "")
                + (f"; defined: {', '.join(clusters)}" if clusters else "; none is defined"),
            )
    if policy.liquidity.exclude_stablecoin_bases:
        stable = set(policy.liquidity.stablecoins)
        for name, tier in universe.tiers.items():
            for i, sym in enumerate(tier.symbols):
                norm = norm_or_none(sym)
                if norm is not None and asset_of(norm) in stable:
                    in_universe.warning(
                        ("tiers", name, "symbols", i),
                        f"{sym} has a stablecoin base and liquidity.exclude_stablecoin_bases "
                        f"is true in {policy_file}: it will never be traded",
                    )
    return in_policy.items + in_universe.items
