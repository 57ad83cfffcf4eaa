"""The per-cluster and per-asset limits as values, carried by :class:`~trader247.core.exposure.
CapPolicy` (``policy.cluster_limits``) so the entry gate and the trimmer enforce them with no
adapter logic. Measuring and deciding on them is :mod:`trader247.core.clusters`.

This module imports only :mod:`trader247.core.symbols` of ours: ``exposure`` (which holds
``CapPolicy``) depends on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from trader247.core.symbols import asset_of


@dataclass(frozen=True, slots=True)
class ClusterLimits:
    """The two limits as values. ``cluster_of`` maps an asset to its cluster.

    Empty (no cluster caps, ``asset_cap_pct`` None) is "off": the cap is the total cap alone,
    exactly as before these limits existed (the rollback). The percentages' range is the
    model's (``RiskConfig``'s ``Percent``): this object trusts the values ``to_core()`` builds
    and checks only what spans fields (a cap naming a cluster with no assets, an asset in two
    clusters).
    """

    cluster_caps: Mapping[str, float] = field(default_factory=dict)
    cluster_of: Mapping[str, str] = field(default_factory=dict)
    asset_cap_pct: float | None = None

    def __post_init__(self) -> None:
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
    ) -> ClusterLimits:
        """From ``clusters.definitions`` (symbols in any config form) and the two risk keys."""
        cluster_of: dict[str, str] = {}
        for name, symbols in definitions.items():
            for symbol in symbols:
                asset = asset_of(symbol)
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
