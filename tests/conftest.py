"""Shared fixtures: the repository root and the bundled data set."""

from __future__ import annotations

from pathlib import Path

import pytest

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
