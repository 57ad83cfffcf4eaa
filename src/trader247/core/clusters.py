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

The limits travel in the policy (``CapPolicy.groups``, built by ``RiskConfig.to_core``), so
the running cap enforces them with no adapter logic: :func:`gate_entry` is the entry gate,
:func:`trader247.core.trims.plan_trims` trims over-cap groups with the total cap's hysteresis
(a group trimmed from over its cap is trimmed down to its target), rounds, rate limits, open
trims and cooldowns, and the metrics and the exposure report read :func:`measure_groups`.
A group over its cap blocks entries into that group only; the total cap's ``EXPOSURE_OVER_CAP``
lock still blocks every entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from trader247.core.exposure import (
    CapPolicy,
    CapState,
    EntryDecision,
    Exposure,
    Position,
    Snapshot,
    clamp_entry_stake,
    measure,
    over_cap_reason,
)
from trader247.core.group_limits import GroupLimits as GroupLimits
from trader247.core.group_limits import asset_of_pair as asset_of_pair  # old name, for tests
from trader247.core.symbols import asset_of
from trader247.core.words import Word

GroupKind = Literal["cluster", "asset"]
_OVER_CAP_CODES: dict[GroupKind, str] = {
    "cluster": Word.CLUSTER_OVER_CAP,
    "asset": Word.ASSET_OVER_CAP,
}


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
    def key(self) -> str:
        """``cluster=MEME`` / ``asset=DOGE``: the group's name in reasons and the trim state."""
        return f"{self.kind}={self.name}"

    @property
    def at_or_below_target(self) -> bool:
        return self.at_risk <= self.target_value + self.tolerance

    def over_cap_reason(self) -> str:
        """``CLUSTER_OVER_CAP: cluster=MEME at_risk=5.1% cap=4.0%`` (or ``ASSET_OVER_CAP``)."""
        return (
            f"{_OVER_CAP_CODES[self.kind]}: {self.kind}={self.name} "
            f"at_risk={self.at_risk_pct:.1f}% cap={self.cap_pct:.1f}%"
        )

    def status_reason(self) -> str:
        """The over-cap reason, or (trimmed back under the cap, not yet at its target)
        ``CLUSTER_ABOVE_TARGET: cluster=MEME at_risk=3.9% cap=4.0% target=3.7%``."""
        if self.over_cap:
            return self.over_cap_reason()
        code = _OVER_CAP_CODES[self.kind].replace("OVER_CAP", "ABOVE_TARGET")
        target = self.cap_pct * self.target_value / self.cap_value if self.cap_value else 0.0
        return (
            f"{code}: {self.kind}={self.name} at_risk={self.at_risk_pct:.1f}% "
            f"cap={self.cap_pct:.1f}% target={target:.1f}%"
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
    def all(self) -> tuple[GroupExposure, ...]:
        """Clusters first, then assets: the order trims are planned in."""
        return (*self.clusters.values(), *self.assets.values())

    @property
    def over_cap(self) -> tuple[GroupExposure, ...]:
        return tuple(g for g in self.all if g.over_cap)


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


def measure_groups(
    snapshot: Snapshot, policy: CapPolicy, limits: GroupLimits | None = None
) -> GroupsExposure:
    """Measure the total cap (``measure``) and every capped cluster and asset with it
    (``limits``: the policy's own, ``policy.groups``, unless given)."""
    limits = policy.groups if limits is None else limits
    exposure = measure(snapshot, policy)
    by_cluster: dict[str, list[Position]] = {name: [] for name in limits.cluster_caps}
    by_asset: dict[str, list[Position]] = {}
    for position in snapshot.positions:
        asset = asset_of(position.pair)
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
    would allow it; ties go to the broader limit (total, then cluster, then asset). ``groups``
    is :func:`measure_groups` with these ``limits`` (it holds every capped cluster, at 0 too).
    Over a cap the headroom is negative (the target is under the cap).
    """
    exposure = groups.exposure
    asset = asset_of(pair)
    total_room = exposure.target_value - exposure.at_risk
    if exposure.over_cap:
        return EntryHeadroom(pair, total_room, "total", over_cap_reason(exposure))
    candidates: list[tuple[str, float, GroupExposure | None]] = [("total", total_room, None)]
    capped = limits.cluster_cap_of(asset)
    if capped is not None:
        cluster = groups.clusters[capped[0]]
        candidates.append((f"cluster={cluster.name}", cluster.headroom, cluster))
    if limits.asset_cap_pct is not None:
        held = groups.assets.get(asset) or _empty_group(
            "asset", asset, limits.asset_cap_pct, groups, policy
        )
        candidates.append((f"asset={asset}", held.headroom, held))
    for label, _room, member in candidates:
        if member is not None and member.over_cap:
            return EntryHeadroom(pair, member.headroom, label, member.over_cap_reason())
    label, room, _member = min(candidates, key=lambda item: item[1])
    return EntryHeadroom(
        pair, room, label, f"ENTRY_HEADROOM: pair={pair} headroom={room:.10g} limited_by={label}"
    )


def gate_entry(
    pair: str,
    proposed_stake: float,
    snapshot: Snapshot,
    policy: CapPolicy,
    state: CapState,
    *,
    min_stake: float | None,
    max_stake: float,
) -> EntryDecision:
    """The running cap's entry gate: the total cap's :func:`clamp_entry_stake`, with the
    pair's cluster and asset headroom as one more bound (off: exactly the total cap's gate).

    A group over its cap refuses with its reason (``CLUSTER_OVER_CAP: ...``); one at or above
    its target refuses as any exhausted headroom does (``BELOW_MIN_STAKE: ...
    limited_by=cluster=MEME``); otherwise the stake is clamped (``ENTRY_CLAMPED: ...
    limited_by=asset=DOGE``).
    """
    if not policy.groups.enabled:
        return clamp_entry_stake(proposed_stake, measure(snapshot, policy), state,
                                 min_stake=min_stake, max_stake=max_stake)
    groups = measure_groups(snapshot, policy)
    room = entry_headroom(pair, groups, policy.groups, policy)
    if room.reason.startswith(tuple(_OVER_CAP_CODES.values())):  # a cluster or asset over cap
        return EntryDecision(None, room.reason)
    group_room = None if room.limited_by == "total" else (room.limited_by, room.headroom)
    return clamp_entry_stake(proposed_stake, groups.exposure, state, min_stake=min_stake,
                             max_stake=max_stake, group_room=group_room)


@dataclass(frozen=True, slots=True)
class GroupCuts:
    """What over-cap groups need sold, per pair, and which groups ask it (``why``)."""

    sold: Mapping[str, float]
    why: Mapping[str, tuple[str, ...]]
    reset: bool = False  # the episode's sit-out rule had to be dropped (see group_cuts)


def group_cuts(
    groups: tuple[GroupExposure, ...],
    values: Mapping[str, float],
    *,
    pending: Mapping[str, float] | None = None,
    sit_out: frozenset[str] = frozenset(),
) -> GroupCuts:
    """Lean's proportional trim inside each group, clusters first, then assets with what the
    cluster cuts leave: every tradeable pair of the group is cut by the same share.

    ``values``: the tradeable pairs (no open trim, not dust) and their values; ``pending``: the
    stake of open trims per pair, already on its way out of the group; ``sit_out``: pairs cut
    earlier in this episode, which sit out while the others can cover the excess (as the total
    cap's proportional rounds).
    """
    pending = pending or {}
    sold: dict[str, float] = {}
    why: dict[str, list[str]] = {}
    reset = False
    for group in groups:
        gone = sum(pending.get(p, 0.0) + sold.get(p, 0.0) for p in group.pairs)
        excess = group.at_risk - group.target_value - gone
        if excess <= group.tolerance:
            continue
        held = {p: values[p] - sold.get(p, 0.0) for p in group.pairs if p in values}
        held = {p: v for p, v in held.items() if v > 0}
        pool = {p: v for p, v in held.items() if p not in sit_out}
        if sum(pool.values()) < excess - group.tolerance:
            pool, reset = held, reset or len(pool) < len(held)
        total = sum(pool.values())
        if total <= 0:
            continue
        ratio = min(1.0, excess / total)
        for pair, value in pool.items():
            sold[pair] = sold.get(pair, 0.0) + ratio * value
            why.setdefault(pair, []).append(group.key)
    return GroupCuts(sold, {p: tuple(keys) for p, keys in why.items()}, reset)


def fit_cut(value: float, want: float, minimum: float) -> tuple[float, bool]:
    """``(stake, full_exit)`` under the exchange minimum ``minimum``: a cut below it is raised
    to it, a cut leaving less than it behind (or nothing: the whole position, also when the
    minimum is 0) is a full exit."""
    stake = max(want, minimum)
    if value - stake < minimum or stake >= value:
        return value, True
    return stake, False
