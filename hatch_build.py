"""Hatchling build hook: the start-up ``.pth`` file and every file a freqtrade user needs.

The ``.pth`` file must sit at the top of site-packages, which the wheel's normal package mapping
cannot express; hatchling only honours ``force_include_editable`` from a build hook, so both the
regular and the editable wheel are handled here.

A user who ``pip install``s the wheel into their own freqtrade setup never sees this checkout, so
the wheel carries (``trader247 init-userdir`` copies them out):
- ``trader247/_plugins/{pairlists,protections,strategies}/*.py``: our three plugins (also the
  start-up hook's fallback for ``pairlists/`` and ``protections/``, which ``freqtrade
  create-userdir`` does not create);
- ``trader247/_data/config/``: the default ``policy.yaml`` and ``universe.yaml`` and their JSON
  Schemas (``schema/*.schema.json``, named by the YAML files' first line);
- ``trader247/_data/monitoring/``: the Prometheus scrape config and alert rules and the Grafana
  dashboard with its provisioning files (``monitoring/README.md``).
Files are found by globs over the checkout, so a new plugin or dashboard ships without an edit
here; ``tests/packaging`` fails when the wheel lacks one. An editable install reads all of them
straight from the checkout (same relative paths under its root).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PTH_SOURCE = "src/trader247_startup.pth"
PTH_TARGET = "trader247_startup.pth"
# checkout glob -> (the checkout folder it is relative to, wheel folder)
SHIPPED = {
    "user_data/pairlists/*.py": ("user_data", "trader247/_plugins"),
    "user_data/protections/*.py": ("user_data", "trader247/_plugins"),
    "user_data/strategies/*.py": ("user_data", "trader247/_plugins"),
    "config/policy.yaml": ("", "trader247/_data"),
    "config/universe.yaml": ("", "trader247/_data"),
    "config/schema/*.schema.json": ("", "trader247/_data"),
    "monitoring/prometheus/*.yml": ("", "trader247/_data"),
    "monitoring/grafana/**/*.json": ("", "trader247/_data"),
    "monitoring/grafana/**/*.yml": ("", "trader247/_data"),
}


def shipped_files(root: Path) -> dict[str, str]:
    """Checkout path -> path inside the wheel, for every file of :data:`SHIPPED`."""
    out: dict[str, str] = {}
    for pattern, (base, target) in SHIPPED.items():
        found = sorted(path for path in root.glob(pattern) if path.is_file())
        if not found:
            raise FileNotFoundError(f"hatch_build.py: nothing matches {pattern} in {root}")
        for path in found:
            relative = path.relative_to(root / base) if base else path.relative_to(root)
            out[path.relative_to(root).as_posix()] = f"{target}/{relative.as_posix()}"
    return out


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            # Editable installs read the plugins and data straight from the checkout.
            build_data["force_include_editable"] = {PTH_SOURCE: PTH_TARGET}
        else:
            build_data["force_include"] = {PTH_SOURCE: PTH_TARGET,
                                           **shipped_files(Path(self.root))}
