"""The user's YAML files with a cluster defined and capped (``risk.max_per_cluster_pct``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.e2e.support import REPO


def write_cluster_files(folder: Path, cluster_caps: Mapping[str, float],
                        definitions: Mapping[str, Sequence[str]]) -> tuple[Path, Path]:
    """``folder``/policy.yaml and universe.yaml: the shipped ones with the clusters defined
    and capped; ``folder``/config.json a copy of the shipped one (they are found next to it)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config" / "config.json", folder / "config.json")
    policy = (REPO / "config" / "policy.yaml").read_text()
    assert "  max_per_cluster_pct: {}\n" in policy
    (folder / "policy.yaml").write_text(policy.replace(
        "  max_per_cluster_pct: {}\n", f"  max_per_cluster_pct: {json.dumps(dict(cluster_caps))}\n"))
    universe = (REPO / "config" / "universe.yaml").read_text()
    assert "  definitions: {}\n" in universe
    flow = ", ".join(f"{name}: [{', '.join(assets)}]" for name, assets in definitions.items())
    (folder / "universe.yaml").write_text(universe.replace(
        "  definitions: {}\n", f"  definitions: {{{flow}}}\n"))
    return folder / "policy.yaml", folder / "universe.yaml"
