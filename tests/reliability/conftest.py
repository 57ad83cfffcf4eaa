"""Reliability fixtures: 1m candles derived from the bundled data (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.faultlab import build_minute_data


@pytest.fixture(scope="session")
def minute_data(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The bundled set has 1h/15m/5m only; stale-candle faults need a 1m bot (see faultlab).
    return build_minute_data(data_dir, tmp_path_factory.mktemp("minute-data"))
