"""Shared, deliberately small data sets: a 20-day write-out and a full-range 1h generation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datagen._shared import small_settings
from trader247.datagen.catalog import CATALOG
from trader247.datagen.generate import Generator, Settings, write_dataset


@pytest.fixture(scope="session")
def small_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small")
    write_dataset(small_settings(), out)
    return out


@pytest.fixture(scope="session")
def full_hourly() -> Generator:
    """Every catalog pair's 1h candles over the whole range, in memory (~2 s)."""
    gen = Generator(Settings(timeframes=("1h",)))
    for pair in CATALOG:
        gen.hourly(pair.pair)
    return gen
