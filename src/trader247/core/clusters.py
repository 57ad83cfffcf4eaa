"""Per-cluster and per-asset at-risk limits: the original bot's two other caps.

One word for the concept: a *cluster* is a set of assets that move together and share a limit
(the original bot said "theme"). Under ``risk.max_per_asset_pct`` every asset is a cluster of
one, so the code measures, gates and trims both kinds alike (:class:`ClusterExposure`,
``kind`` ``"cluster"`` or ``"asset"``).

``risk.max_per_cluster_pct`` caps each cluster of ``universe.yaml`` ``clusters.definitions`` and
``risk.max_per_asset_pct`` each asset, as % of equity. Both sit under the total cap of
:mod:`trader247.core.exposure` and use its definitions, nothing of their own:

- a position's at-risk is ``value + open_entry_stake`` (``value = amount x mark``), the terms
  :func:`~trader247.core.exposure.measure` sums; a cluster's at-risk is the sum over its pairs.
  External holdings have no pair, so they count only toward the total cap.
- the equity, the tolerance and the cap formula (``pct x equity / 100``) are ``measure``'s.
- the asset of a pair is its base: ``DOGE/USD`` and ``DOGE/USDC`` are both asset ``DOGE``.

Decisions (QuantConnect Lean's ``MaximumSectorExposureRiskManagementModel`` is the reference):

- A cluster is over its cap strictly above it (``at_risk > cap + tolerance``), as the total cap.
- A cluster's target is its cap scaled by the total cap's ``target / cap`` (25 % with a 2-point
  band: x 0.92, so MEME 4 % aims at 3.68 %): the same hysteresis, relative to the cap, because
  a 2-point band would be half of a 4 % cap.
- An entry may add the smallest of the three headrooms (total, its cluster, its asset), each
  measured to its target, as the total cap's entry gate does.
- Over-cap clusters are trimmed proportionally inside the cluster only: every position of the
  cluster is cut by the same ratio ``(at_risk - target) / held value``. Clusters are planned
  first, then assets with what the cluster cuts leave; a pair gets one order. Exchange
  minimums as in :mod:`trader247.core.trims`: a position worth less than ``m`` is dust and
  skipped, a cut below ``m`` is raised to ``m``, a cut leaving less than ``m`` is a full exit.

The limits travel in the policy (``CapPolicy.cluster_limits``, built by ``RiskConfig.to_core``), so
the running cap enforces them with no adapter logic: :func:`gate_entry` is the entry gate,
:func:`trader247.core.trims.plan_trims` trims over-cap clusters with the total cap's hysteresis
(a cluster trimmed from over its cap is trimmed down to its target), rounds, rate limits, open
trims and cooldowns, and the metrics and the exposure report read :func:`measure_clusters`.
A cluster over its cap blocks entries into that cluster only; the total cap's ``EXPOSURE_OVER_CAP``
lock still blocks every entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from trader247.core.cluster_limits import ClusterLimits as ClusterLimits
from trader247.core.exposure import EntryDecision, clamp_entry_stake, measure, over_cap_reason
from trader247.core.symbols import asset_of
from trader247.core.words import Word

if TYPE_CHECKING:  # named in signatures only: the caller builds them, this module reads them
    from trader247.core.exposure import CapPolicy, CapState, Exposure, Position, Snapshot

ClusterKind = Literal["cluster", "asset"]
_OVER_CAP_CODES: dict[ClusterKind, str] = {
    "cluster": Word.CLUSTER_OVER_CAP,
    "asset": Word.ASSET_OVER_CAP,
}


@dataclass(frozen=True, slots=True)
class ClusterExposure:
    """At-risk of one cluster or asset against its cap. ``pairs`` are the pairs held in it."""

    kind: ClusterKind
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
        """``cluster=MEME`` / ``asset=DOGE``: the cluster's name in reasons and the trim state."""
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
class ClusterMeasurement:
    """The total exposure and every capped cluster: all capped clusters (at 0 too, so metrics
    have a series from the start) and every asset held or being entered when assets are capped.
    """

    exposure: Exposure
    clusters: Mapping[str, ClusterExposure]
    assets: Mapping[str, ClusterExposure]

    @property
    def all(self) -> tuple[ClusterExposure, ...]:
        """Clusters first, then assets: the order trims are planned in."""
        return (*self.clusters.values(), *self.assets.values())

    @property
    def over_cap(self) -> tuple[ClusterExposure, ...]:
        return tuple(g for g in self.all if g.over_cap)


def _cluster(
    kind: ClusterKind,
    name: str,
    members: list[Position],
    cap_pct: float,
    exposure: Exposure,
    policy: CapPolicy,
) -> ClusterExposure:
    held = sum(p.value for p in members)
    at_risk = held + sum(p.open_entry_stake for p in members)
    equity = exposure.equity
    base = max(equity, 0.0)
    # measure's convention: no equity behind a holding is over every cap.
    pct = at_risk / equity * 100.0 if equity > 0 else (0.0 if at_risk == 0 else math.inf)
    cap_value = cap_pct * base / 100.0
    # The total cap's band, relative: target / cap of the total applied to this cap.
    target_value = cap_value * policy.target_pct / policy.max_total_at_risk_pct
    return ClusterExposure(
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


def measure_clusters(
    snapshot: Snapshot, policy: CapPolicy, limits: ClusterLimits | None = None
) -> ClusterMeasurement:
    """Measure the total cap (``measure``) and every capped cluster and asset with it
    (``limits``: the policy's own, ``policy.cluster_limits``, unless given)."""
    limits = policy.cluster_limits if limits is None else limits
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
        name: _cluster("cluster", name, members, limits.cluster_caps[name], exposure, policy)
        for name, members in sorted(by_cluster.items())
    }
    assets = {}
    if limits.asset_cap_pct is not None:
        assets = {
            name: _cluster("asset", name, members, limits.asset_cap_pct, exposure, policy)
            for name, members in sorted(by_asset.items())
        }
    return ClusterMeasurement(exposure, clusters, assets)


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


def _empty_cluster(
    kind: ClusterKind, name: str, cap_pct: float, measured: ClusterMeasurement, policy: CapPolicy
) -> ClusterExposure:
    return _cluster(kind, name, [], cap_pct, measured.exposure, policy)


def entry_headroom(
    pair: str, measured: ClusterMeasurement, limits: ClusterLimits, policy: CapPolicy
) -> EntryHeadroom:
    """The smallest of the total, cluster and asset headroom for an entry into ``pair``.

    A cluster over its cap refuses the entry with its over-cap reason even if the total cap
    would allow it; ties go to the broader limit (total, then cluster, then asset). ``measured``
    is :func:`measure_clusters` with these ``limits`` (it holds every capped cluster, at 0 too).
    Over a cap the headroom is negative (the target is under the cap).
    """
    exposure = measured.exposure
    asset = asset_of(pair)
    total_room = exposure.target_value - exposure.at_risk
    if exposure.over_cap:
        return EntryHeadroom(pair, total_room, "total", over_cap_reason(exposure))
    candidates: list[tuple[str, float, ClusterExposure | None]] = [("total", total_room, None)]
    capped = limits.cluster_cap_of(asset)
    if capped is not None:
        cluster = measured.clusters[capped[0]]
        candidates.append((f"cluster={cluster.name}", cluster.headroom, cluster))
    if limits.asset_cap_pct is not None:
        held = measured.assets.get(asset) or _empty_cluster(
            "asset", asset, limits.asset_cap_pct, measured, policy
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

    A cluster over its cap refuses with its reason (``CLUSTER_OVER_CAP: ...``); one at or above
    its target refuses as any exhausted headroom does (``BELOW_MIN_STAKE: ...
    limited_by=cluster=MEME``); otherwise the stake is clamped (``ENTRY_CLAMPED: ...
    limited_by=asset=DOGE``).
    """
    if not policy.cluster_limits.enabled:
        return clamp_entry_stake(proposed_stake, measure(snapshot, policy), state,
                                 min_stake=min_stake, max_stake=max_stake)
    measured = measure_clusters(snapshot, policy)
    room = entry_headroom(pair, measured, policy.cluster_limits, policy)
    if room.reason.startswith(tuple(_OVER_CAP_CODES.values())):  # a cluster or asset over cap
        return EntryDecision(None, room.reason)
    cluster_room = None if room.limited_by == "total" else (room.limited_by, room.headroom)
    return clamp_entry_stake(proposed_stake, measured.exposure, state, min_stake=min_stake,
                             max_stake=max_stake, cluster_room=cluster_room)


@dataclass(frozen=True, slots=True)
class ClusterCuts:
    """What over-cap clusters need sold, per pair, and which clusters ask it (``why``)."""

    sold: Mapping[str, float]
    why: Mapping[str, tuple[str, ...]]
    reset: bool = False  # the episode's sit-out rule had to be dropped (see cluster_cuts)


def cluster_cuts(
    clusters: tuple[ClusterExposure, ...],
    values: Mapping[str, float],
    *,
    pending: Mapping[str, float] | None = None,
    sit_out: frozenset[str] = frozenset(),
) -> ClusterCuts:
    """Lean's proportional trim inside each cluster, clusters first, then assets with what the
    cluster cuts leave: every tradeable pair of the cluster is cut by the same share.

    ``values``: the tradeable pairs (no open trim, not dust) and their values; ``pending``: the
    stake of open trims per pair, already on its way out of the cluster; ``sit_out``: pairs cut
    earlier in this episode, which sit out while the others can cover the excess (as the total
    cap's proportional rounds).
    """
    pending = pending or {}
    sold: dict[str, float] = {}
    why: dict[str, list[str]] = {}
    reset = False
    for cluster in clusters:
        gone = sum(pending.get(p, 0.0) + sold.get(p, 0.0) for p in cluster.pairs)
        excess = cluster.at_risk - cluster.target_value - gone
        if excess <= cluster.tolerance:
            continue
        held = {p: values[p] - sold.get(p, 0.0) for p in cluster.pairs if p in values}
        held = {p: v for p, v in held.items() if v > 0}
        pool = {p: v for p, v in held.items() if p not in sit_out}
        if sum(pool.values()) < excess - cluster.tolerance:
            pool, reset = held, reset or len(pool) < len(held)
        total = sum(pool.values())
        if total <= 0:
            continue
        ratio = min(1.0, excess / total)
        for pair, value in pool.items():
            sold[pair] = sold.get(pair, 0.0) + ratio * value
            why.setdefault(pair, []).append(cluster.key)
    return ClusterCuts(sold, {p: tuple(keys) for p, keys in why.items()}, reset)


def fit_cut(value: float, want: float, minimum: float) -> tuple[float, bool]:
    """``(stake, full_exit)`` under the exchange minimum ``minimum``: a cut below it is raised
    to it, a cut leaving less than it behind (or nothing: the whole position, also when the
    minimum is 0) is a full exit."""
    stake = max(want, minimum)
    if value - stake < minimum or stake >= value:
        return value, True
    return stake, False
