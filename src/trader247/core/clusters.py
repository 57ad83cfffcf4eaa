"""Per-cluster (theme) and per-asset at-risk limits: the original bot's two other caps.

``risk.max_per_theme_pct`` caps each cluster of ``universe.yaml`` ``clusters.definitions`` and
``risk.max_per_asset_pct`` each asset, as % of equity. Both sit under the total cap of
:mod:`trader247.core.exposure` and use its definitions, nothing of their own:

- a position's at-risk is ``value + open_entry_stake`` (``value = amount x mark``), the terms
  :func:`~trader247.core.exposure.measure` sums; a group's at-risk is the sum over its pairs.
  External holdings have no pair, so they count only toward the total cap.
- the equity, the tolerance and the cap formula (``pct x equity / 100``) are ``measure``'s.
- the asset of a pair is its base: ``DOGE/USD`` and ``DOGE/USDC`` are both asset ``DOGE``.

Decisions (QuantConnect Lean's ``MaximumSectorExposureRiskManagementModel`` is the reference):

- A group is over its cap strictly above it (``at_risk > cap + tolerance``), as the total cap.
- A group's target is its cap scaled by the total cap's ``target / cap`` (25 % with a 2-point
  band: x 0.92, so MEME 4 % aims at 3.68 %): the same hysteresis, relative to the cap, because
  a 2-point band would be half of a 4 % cap.
- An entry may add the smallest of the three headrooms (total, its cluster, its asset), each
  measured to its target, as the total cap's entry gate does.
- Over-cap groups are trimmed proportionally inside the group only: every position of the
  group is cut by the same ratio ``(at_risk - target) / held value``. Clusters are planned
  first, then assets with what the cluster cuts leave; a pair gets one order. Exchange
  minimums as in :mod:`trader247.core.trims`: a position worth less than ``m`` is dust and
  skipped, a cut below ``m`` is raised to ``m``, a cut leaving less than ``m`` is a full exit.

The adapters (entry gate, trimmer, metrics, exposure report) wire these in a later step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from trader247.core.exposure import (
    CapPolicy,
    Exposure,
    Position,
    Snapshot,
    measure,
    over_cap_reason,
)
from trader247.core.trims import TrimOrder

GroupKind = Literal["cluster", "asset"]
_OVER_CAP_CODES: dict[GroupKind, str] = {
    "cluster": "CLUSTER_OVER_CAP",
    "asset": "ASSET_OVER_CAP",
}


def asset_of_pair(pair: str) -> str:
    """``DOGE/USD`` -> ``DOGE``; ``DOGE-USD`` and a bare ``DOGE`` give ``DOGE`` as well."""
    for separator in ("/", "-"):
        if separator in pair:
            return pair.split(separator, 1)[0].upper()
    return pair.upper()


def _check_pct(name: str, pct: float) -> None:
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 < pct <= 100:
        raise ValueError(f"{name} must be in (0, 100], got {pct!r}")


@dataclass(frozen=True, slots=True)
class GroupLimits:
    """The two limits as values. ``cluster_of`` maps an asset to its cluster."""

    cluster_caps: Mapping[str, float] = field(default_factory=dict)
    cluster_of: Mapping[str, str] = field(default_factory=dict)
    asset_cap_pct: float | None = None

    def __post_init__(self) -> None:
        for name, pct in self.cluster_caps.items():
            _check_pct(f"cluster cap {name}", pct)
        if self.asset_cap_pct is not None:
            _check_pct("asset cap", self.asset_cap_pct)
        defined = set(self.cluster_of.values())
        for name in self.cluster_caps:
            if name not in defined:
                raise ValueError(f"cluster cap {name} names a cluster with no assets")

    @classmethod
    def from_definitions(
        cls,
        definitions: Mapping[str, Iterable[str]],
        cluster_caps: Mapping[str, float],
        asset_cap_pct: float | None,
    ) -> GroupLimits:
        """From ``clusters.definitions`` (symbols in any config form) and the two risk keys."""
        cluster_of: dict[str, str] = {}
        for name, symbols in definitions.items():
            for symbol in symbols:
                asset = asset_of_pair(symbol)
                if cluster_of.setdefault(asset, name) != name:
                    raise ValueError(
                        f"asset {asset} is in clusters {cluster_of[asset]} and {name}"
                    )
        return cls(dict(cluster_caps), cluster_of, asset_cap_pct)

    @property
    def enabled(self) -> bool:
        return bool(self.cluster_caps) or self.asset_cap_pct is not None

    def cluster_cap_of(self, asset: str) -> tuple[str, float] | None:
        """The capped cluster of ``asset``, if any."""
        name = self.cluster_of.get(asset)
        if name is None or name not in self.cluster_caps:
            return None
        return name, self.cluster_caps[name]


@dataclass(frozen=True, slots=True)
class GroupExposure:
    """At-risk of one cluster or asset against its cap. ``pairs`` are the pairs held in it."""

    kind: GroupKind
    name: str
    at_risk: float
    held: float
    at_risk_pct: float
    cap_pct: float
    cap_value: float
    target_value: float
    tolerance: float
    pairs: tuple[str, ...] = ()

    @property
    def over_cap(self) -> bool:
        return self.at_risk > self.cap_value + self.tolerance

    @property
    def headroom(self) -> float:
        """What an entry may still add: up to the target, like the total cap's entry gate."""
        return self.target_value - self.at_risk

    @property
    def excess_over_target(self) -> float:
        excess = self.at_risk - self.target_value
        return excess if excess > self.tolerance else 0.0

    def over_cap_reason(self) -> str:
        """``CLUSTER_OVER_CAP: cluster=MEME at_risk=5.1% cap=4.0%`` (or ``ASSET_OVER_CAP``)."""
        return (
            f"{_OVER_CAP_CODES[self.kind]}: {self.kind}={self.name} "
            f"at_risk={self.at_risk_pct:.1f}% cap={self.cap_pct:.1f}%"
        )


@dataclass(frozen=True, slots=True)
class GroupsExposure:
    """The total exposure and every capped group: all capped clusters (at 0 too, so metrics
    have a series from the start) and every asset held or being entered when assets are capped.
    """

    exposure: Exposure
    clusters: Mapping[str, GroupExposure]
    assets: Mapping[str, GroupExposure]

    @property
    def over_cap(self) -> tuple[GroupExposure, ...]:
        groups = [*self.clusters.values(), *self.assets.values()]
        return tuple(g for g in groups if g.over_cap)


def _group(
    kind: GroupKind,
    name: str,
    members: list[Position],
    cap_pct: float,
    exposure: Exposure,
    policy: CapPolicy,
) -> GroupExposure:
    held = sum(p.value for p in members)
    at_risk = held + sum(p.open_entry_stake for p in members)
    equity = exposure.equity
    base = max(equity, 0.0)
    # measure's convention: no equity behind a holding is over every cap.
    pct = at_risk / equity * 100.0 if equity > 0 else (0.0 if at_risk == 0 else math.inf)
    cap_value = cap_pct * base / 100.0
    # The total cap's band, relative: target / cap of the total applied to this cap.
    target_value = cap_value * policy.target_pct / policy.max_total_at_risk_pct
    return GroupExposure(
        kind=kind,
        name=name,
        at_risk=at_risk,
        held=held,
        at_risk_pct=pct,
        cap_pct=cap_pct,
        cap_value=cap_value,
        target_value=target_value,
        tolerance=exposure.tolerance,
        pairs=tuple(sorted(p.pair for p in members)),
    )


def measure_groups(snapshot: Snapshot, policy: CapPolicy, limits: GroupLimits) -> GroupsExposure:
    """Measure the total cap (``measure``) and every capped cluster and asset with it."""
    exposure = measure(snapshot, policy)
    by_cluster: dict[str, list[Position]] = {name: [] for name in limits.cluster_caps}
    by_asset: dict[str, list[Position]] = {}
    for position in snapshot.positions:
        asset = asset_of_pair(position.pair)
        capped = limits.cluster_cap_of(asset)
        if capped is not None:
            by_cluster[capped[0]].append(position)
        if limits.asset_cap_pct is not None:
            by_asset.setdefault(asset, []).append(position)
    clusters = {
        name: _group("cluster", name, members, limits.cluster_caps[name], exposure, policy)
        for name, members in sorted(by_cluster.items())
    }
    assets = {}
    if limits.asset_cap_pct is not None:
        assets = {
            name: _group("asset", name, members, limits.asset_cap_pct, exposure, policy)
            for name, members in sorted(by_asset.items())
        }
    return GroupsExposure(exposure, clusters, assets)


@dataclass(frozen=True, slots=True)
class EntryHeadroom:
    """What an entry into ``pair`` may add (<= 0: nothing) and which limit binds."""

    pair: str
    headroom: float
    limited_by: str
    reason: str

    @property
    def allowed(self) -> bool:
        return self.headroom > 0


def _empty_group(
    kind: GroupKind, name: str, cap_pct: float, groups: GroupsExposure, policy: CapPolicy
) -> GroupExposure:
    return _group(kind, name, [], cap_pct, groups.exposure, policy)


def entry_headroom(
    pair: str, groups: GroupsExposure, limits: GroupLimits, policy: CapPolicy
) -> EntryHeadroom:
    """The smallest of the total, cluster and asset headroom for an entry into ``pair``.

    A group over its cap refuses the entry with its over-cap reason even if the total cap
    would allow it; ties go to the broader limit (total, then cluster, then asset).
    """
    exposure = groups.exposure
    asset = asset_of_pair(pair)
    total_room = exposure.target_value - exposure.at_risk
    if exposure.over_cap:
        return EntryHeadroom(pair, min(0.0, total_room), "total", over_cap_reason(exposure))
    candidates: list[tuple[str, float, GroupExposure | None]] = [("total", total_room, None)]
    capped = limits.cluster_cap_of(asset)
    if capped is not None:
        name, pct = capped
        cluster = groups.clusters.get(name) or _empty_group("cluster", name, pct, groups, policy)
        candidates.append((f"cluster={name}", cluster.headroom, cluster))
    if limits.asset_cap_pct is not None:
        held = groups.assets.get(asset) or _empty_group(
            "asset", asset, limits.asset_cap_pct, groups, policy
        )
        candidates.append((f"asset={asset}", held.headroom, held))
    for label, _room, member in candidates:
        if member is not None and member.over_cap:
            return EntryHeadroom(pair, min(0.0, member.headroom), label, member.over_cap_reason())
    label, room, _member = min(candidates, key=lambda item: item[1])
    return EntryHeadroom(
        pair, room, label, f"ENTRY_HEADROOM: pair={pair} headroom={room:.10g} limited_by={label}"
    )


def _min_stake_for(min_stake: Mapping[str, float] | float, pair: str) -> float:
    value = min_stake.get(pair) if isinstance(min_stake, Mapping) else min_stake
    if value is None:
        raise ValueError(f"min_stake has no entry for pair {pair!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"min_stake for {pair!r} must be finite and >= 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class GroupTrimPlan:
    """One order per pair; ``groups`` are the over-cap groups the orders answer."""

    orders: tuple[TrimOrder, ...]
    groups: tuple[GroupExposure, ...]
    skipped_dust: tuple[str, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(g.over_cap_reason() for g in self.groups)


def _cuts(group: GroupExposure, positions: Mapping[str, Position],
          sold: Mapping[str, float]) -> dict[str, float]:
    """Lean's proportional trim: the same share of every held position of the group."""
    held = {pair: positions[pair].value - sold.get(pair, 0.0) for pair in group.pairs}
    excess = group.excess_over_target - sum(sold.get(pair, 0.0) for pair in group.pairs)
    total = sum(v for v in held.values() if v > 0)
    if excess <= group.tolerance or total <= 0:
        return {}
    ratio = min(1.0, excess / total)
    return {pair: ratio * value for pair, value in held.items() if value > 0}


def plan_group_trims(
    groups: GroupsExposure,
    snapshot: Snapshot,
    *,
    min_stake: Mapping[str, float] | float,
) -> GroupTrimPlan:
    """Trim every over-cap group back to its target, proportionally inside the group only."""
    positions = {p.pair: p for p in snapshot.positions}
    over = [*(g for g in groups.clusters.values() if g.over_cap),
            *(g for g in groups.assets.values() if g.over_cap)]
    sold: dict[str, float] = {}
    why: dict[str, list[str]] = {}
    for group in over:
        for pair, cut in _cuts(group, positions, sold).items():
            sold[pair] = sold.get(pair, 0.0) + cut
            why.setdefault(pair, []).append(f"{group.kind}={group.name}")
    orders: list[TrimOrder] = []
    dust: list[str] = []
    for pair in sorted(sold):
        position = positions[pair]
        value, minimum = position.value, _min_stake_for(min_stake, pair)
        if value < minimum:
            dust.append(pair)
            continue
        stake, full = max(sold[pair], minimum), False
        if value - stake < minimum:
            stake, full = value, True
        amount = position.amount if full else stake / position.mark_price
        reason = (
            f"TRIM_GROUP_PROPORTIONAL: pair={pair} {' '.join(why[pair])} "
            f"share={stake / value:.4f} stake={stake:.10g} min_stake={minimum:.10g}"
            + (" full_exit=1" if full else "")
        )
        orders.append(TrimOrder(pair, stake, amount, reason, full))
    return GroupTrimPlan(tuple(orders), tuple(over), tuple(dust))
