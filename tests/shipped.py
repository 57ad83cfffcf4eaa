"""The policy we ship, as the core gets it: ``config/policy.yaml`` and ``config/universe.yaml``
read by the config loader and turned into core objects by the models' ``to_core()``.

Tests build their policies from here (``shipped_cap_policy(trim_mode="largest_first")`` for a
variation), never from core defaults: the core has none, and a test of a hand-written copy would
not test what users run. Pure (no freqtrade import), so core tests stay fast; the files are read
once per test process.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from trader247.configfiles import load_both
from trader247.core.config import PolicyConfig, UniverseConfig
from trader247.core.exposure import CapPolicy
from trader247.core.universe import UniverseRules

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
POLICY_FILE = CONFIG_DIR / "policy.yaml"
UNIVERSE_FILE = CONFIG_DIR / "universe.yaml"


@dataclass(frozen=True)
class Shipped:
    policy: PolicyConfig
    universe: UniverseConfig
    cap_policy: CapPolicy
    universe_rules: UniverseRules


@cache
def shipped() -> Shipped:
    policy, universe = load_both(POLICY_FILE, UNIVERSE_FILE, dry_run=True)
    return Shipped(policy, universe, policy.risk.to_core(policy.trims, universe.clusters),
                   universe.to_core(policy.liquidity))


def shipped_cap_policy(**changes: object) -> CapPolicy:
    """The shipped cap policy (cap 25 %, band 2, interval 3, timeout 75 s, 3 trims a round,
    cooldown 6), with ``changes`` applied (validated like any CapPolicy)."""
    policy = shipped().cap_policy
    return dataclasses.replace(policy, **changes) if changes else policy  # type: ignore[arg-type]


def shipped_universe_rules(**changes: object) -> UniverseRules:
    """The shipped universe rules (floors 10M / 5M / 2M, global 3M, BTC/ETH/SOL forced, BONK
    never traded, exit band 0.10, min size 7), with ``changes`` applied."""
    rules = shipped().universe_rules
    return dataclasses.replace(rules, **changes) if changes else rules  # type: ignore[arg-type]
