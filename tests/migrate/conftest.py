"""Fixtures of the migration tests: the original bot's real files and variants of them."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import replay, replay_factory  # noqa: F401  (the e2e tests' replay)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL = FIXTURES / "v2_real"
LATEST = FIXTURES / "v2_latest"  # the newest version (f2c9978), what the original's users run

# The profile block as the original repository's docs/CONSERVATIVE_POLICY_ALIGNMENT.md and
# docs/DAY_TRADER_PROFILE.md show it (the 2025-11-15 format of policy.yaml).
PROFILES = """\
profile: conservative  # Changed from day_trader

profiles:
  conservative:  # NEW - mirrors Freqtrade/Jesse conservative defaults
    min_conviction: 0.40       # High bar (vs 0.30 in day_trader)
    tier_sizing:
      T1: 0.015  # 1.5% NAV
      T2: 0.010  # 1.0% NAV
      T3: 0.005  # 0.5% NAV
    max_position_pct:
      T1: 0.03   # 3% max per asset (allows 2 adds)
      T2: 0.02   # 2% max per asset
      T3: 0.01   # 1% max per asset
    min_trade_notional: 10.0   # $10 minimum
  day_trader:
    min_conviction: 0.30
    tier_sizing: {T1: 0.03, T2: 0.018, T3: 0.007}
    max_position_pct: {T1: 0.07, T2: 0.045, T3: 0.025}
    min_trade_notional: 5.0

"""


@pytest.fixture
def v2_dir(tmp_path: Path) -> Callable[..., Path]:
    """A copy of the real files (``base``: which fixture); ``edit(name, old, new)`` pairs change
    them by text, each ``old`` found exactly once."""

    def make(*edits: tuple[str, str, str], prepend: dict[str, str] | None = None,
             drop: tuple[str, ...] = (), base: Path = REAL) -> Path:
        source = tmp_path / "v2"
        source.mkdir(exist_ok=True)
        for name in ("policy.yaml", "universe.yaml", "app.yaml"):
            if name not in drop:
                shutil.copy(base / name, source / name)
        for name, old, new in edits:
            text = (source / name).read_text(encoding="utf-8")
            assert text.count(old) == 1, (name, old)
            (source / name).write_text(text.replace(old, new), encoding="utf-8")
        for name, head in (prepend or {}).items():
            path = source / name
            path.write_text(head + path.read_text(encoding="utf-8"), encoding="utf-8")
        return source

    return make
