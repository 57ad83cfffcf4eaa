"""Locate, load (once) and map our YAML files for the freqtrade plugins.

Decisions:
- ``policy.yaml`` and ``universe.yaml`` live next to the first freqtrade config file (``-c``);
  the pairlist parameters ``policy_file`` / ``universe_file`` override that (relative paths are
  relative to the config file's folder, as freqtrade does for its own paths).
- The files are parsed once per process and per file version (path + mtime + size): the pairlist,
  the strategy and the protection share one parsed copy.
- Any problem raises :class:`Trader247ConfigError`, an ``OperationalException``: freqtrade stops
  before the first iteration with every problem listed and exit code 2 (a ``ConfigurationError``
  would exit 0 in freqtrade 2026.9 without our start-up hook).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freqtrade.exceptions import OperationalException

from trader247.configfiles import ConfigFileError, load_both
from trader247.core.config import PolicyConfig, UniverseConfig
from trader247.core.exposure import CapPolicy
from trader247.core.symbols import to_pair
from trader247.core.universe import TierRule, UniverseRules
from trader247.preflight import config_checks

PAIRLIST_NAME = "TieredLiquidityPairList"


class Trader247ConfigError(OperationalException):  # type: ignore[misc]  # freqtrade is untyped
    pass


@dataclass(frozen=True)
class Settings:
    policy: PolicyConfig
    universe: UniverseConfig
    policy_path: Path
    universe_path: Path


_cache: dict[tuple[Any, ...], Settings] = {}
logger = logging.getLogger(__name__)


def _config_label(config: Mapping[str, Any]) -> str:
    return ", ".join(reversed(config.get("config_files") or [])) or "<config>"


def config_dir(config: Mapping[str, Any]) -> Path:
    # freqtrade stores config_files newest-first: the first ``-c`` file is the last entry.
    files = config.get("config_files") or []
    first = next((f for f in reversed(files) if f and f != "-"), None)
    # Kept relative when the user gave a relative path, so messages read `config/policy.yaml:49`.
    return Path(first).parent if first else Path("config")


def pairlist_params(config: Mapping[str, Any]) -> Mapping[str, Any]:
    for entry in config.get("pairlists") or []:
        if entry.get("method") == PAIRLIST_NAME:
            return entry  # type: ignore[no-any-return]
    return {}


def locate(config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    params = {**pairlist_params(config), **(overrides or {})}
    base = config_dir(config)

    def resolve(key: str, default: str) -> Path:
        path = Path(os.path.expanduser(str(params.get(key) or default)))
        return path if path.is_absolute() else base / path

    return resolve("policy_file", "policy.yaml"), resolve("universe_file", "universe.yaml")


def _stamp(path: Path) -> tuple[str, int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (str(path), -1, -1)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def load_settings(config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Settings:
    policy_path, universe_path = locate(config, overrides)
    dry_run = bool(config.get("dry_run", True))
    key = (_stamp(policy_path), _stamp(universe_path), dry_run)
    if key not in _cache:
        try:
            policy, universe = load_both(policy_path, universe_path, dry_run=dry_run)
        except ConfigFileError as exc:
            raise Trader247ConfigError(f"247trader configuration is invalid:\n{exc}") from None
        problems = config_checks(config, policy, file=_config_label(config))
        for problem in problems:
            if problem.severity != "error":
                logger.warning(problem.format())
        errors = [p.format() for p in problems if p.severity == "error"]
        if errors:
            raise Trader247ConfigError("247trader configuration is invalid:\n" + "\n".join(errors))
        _cache.clear()
        _cache[key] = Settings(policy, universe, policy_path, universe_path)
    return _cache[key]


def cap_policy(policy: PolicyConfig) -> CapPolicy:
    risk = policy.risk
    return CapPolicy(
        max_total_at_risk_pct=risk.max_total_at_risk_pct,
        trim_band_pct=risk.trim_band_pct,
        trim_interval_cycles=risk.trim_interval_cycles,
        trim_timeout_seconds=risk.trim_timeout_seconds,
        max_trims_per_cycle=risk.max_trims_per_cycle,
        trim_on_start=risk.trim_on_start,
        trim_mode=risk.trim_mode,
        reentry_cooldown_cycles=risk.reentry_cooldown_cycles,
        count_external_holdings=risk.count_external_holdings,
        trims_enabled=policy.trims.enabled,
    )


def universe_rules(policy: PolicyConfig, universe: UniverseConfig) -> UniverseRules:
    liquidity = policy.liquidity
    return UniverseRules(
        tiers=tuple(
            TierRule(
                name=name,
                symbols=frozenset(to_pair(s) for s in tier.symbols),
                floor_usd=tier.constraints.min_24h_volume_usd,
                force_eligible=frozenset(to_pair(s) for s in tier.constraints.force_eligible_symbols),
            )
            for name, tier in universe.tiers.items()
        ),
        global_floor_usd=liquidity.min_24h_volume_usd,
        never_trade=frozenset(to_pair(s) for s in universe.exclusions.never_trade),
        stablecoins=frozenset(liquidity.stablecoins),
        exclude_stablecoin_bases=liquidity.exclude_stablecoin_bases,
        exit_band=liquidity.exit_band,
        min_universe_size=liquidity.min_universe_size,
        pegged_quotes=frozenset(liquidity.pegged_quotes),
        volume_source=liquidity.volume_source,
        suspect_ratio=liquidity.suspect_ratio,
    )
