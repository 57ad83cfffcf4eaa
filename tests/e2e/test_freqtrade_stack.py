"""Real freqtrade processes against the replay exchange (issue [A] item 7).

``test-pairlist``, ``backtesting`` and ``trade --dry-run`` with our plugins moved to
``tests/compat/test_plugins_e2e.py``, which ``make test-compat`` runs on every supported release.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.support import REPO, freqtrade_args

pytestmark = pytest.mark.e2e


def test_list_strategies_finds_ours() -> None:
    result = subprocess.run(
        [*freqtrade_args(Path("."), REPO / "config" / "config.json", "list-strategies", "-1")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Trader247Strategy" in result.stdout.split()
