"""Shared fixtures: the repository root, the bundled data set and the shipped policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shipped import shipped_cap_policy, shipped_universe_rules
from trader247.core.exposure import CapPolicy
from trader247.core.universe import UniverseRules

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "user_data" / "data" / "coinbase"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not any(DATA_DIR.glob("*-1h.feather")):
        pytest.fail(f"no bundled candles in {DATA_DIR}: run `make data` (make test does)")
    return DATA_DIR


@pytest.fixture
def cap_policy() -> CapPolicy:
    """The cap policy of config/policy.yaml (see ``tests.shipped`` for variations)."""
    return shipped_cap_policy()


@pytest.fixture
def universe_rules() -> UniverseRules:
    """The universe rules of config/policy.yaml + config/universe.yaml."""
    return shipped_universe_rules()
