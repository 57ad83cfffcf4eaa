"""ExposureCap declared by a strategy without ExposureCapMixin stops freqtrade at start-up ([C2]).

Before, the protection silently never locked. Both a bot and a backtest with protections must
refuse to start, name the strategy class and the fix, and exit non-zero without a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.support import CHILD_ENV, REPO, Replay
from trader247.cli.demo import exchange_override

pytestmark = pytest.mark.e2e
STRATEGY_PATH = Path(__file__).resolve().parent / "strategies_nomixin"
MESSAGE = ("ExposureCap: strategy NoMixinStrategy declares the ExposureCap protection but does "
           "not inherit ExposureCapMixin")
FIX = "class NoMixinStrategy(ExposureCapMixin, <its base>)"


@pytest.mark.parametrize("command", [
    ["trade", "--dry-run", "--db-url", "sqlite://"],
    ["backtesting", "--enable-protections", "--timerange", "20250101-20250103",
     "--export", "none"],
])
def test_freqtrade_refuses_to_start(command: list[str], tmp_path: Path, replay: Replay,
                                    data_dir: Path) -> None:
    override = tmp_path / "override.json"
    config = exchange_override(replay.port)
    config.update({"api_server": {"enabled": False},
                   "pairlists": [{"method": "StaticPairList"}]})
    config["exchange"]["pair_whitelist"] = ["BTC/USD", "ETH/USD"]  # type: ignore[index]
    override.write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "freqtrade", *command, "-c", str(REPO / "config" / "config.json"),
         "-c", str(override), "--userdir", str(REPO / "user_data"), "--datadir", str(data_dir),
         "--strategy", "NoMixinStrategy", "--strategy-path", str(STRATEGY_PATH)],
        cwd=REPO, capture_output=True, text=True, timeout=180, env=CHILD_ENV)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output[-3000:]
    assert MESSAGE in output and FIX in output, output[-3000:]
    assert "Traceback" not in output
