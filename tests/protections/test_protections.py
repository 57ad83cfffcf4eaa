"""Freqtrade's own protections from policy.yaml: ``strategy_protections`` and a backtest in which a
configured StoplossGuard really locks (a user strategy on the README's mixin recipe)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.support import CHILD_ENV, FREQTRADE, REPO, Replay
from trader247.adapters.settings import Trader247ConfigError
from trader247.cli.demo import exchange_override
from trader247.protection_list import strategy_protections

STRATEGIES = Path(__file__).resolve().parent / "strategies"
GUARD = "{method: StoplossGuard, trade_limit: 2, lookback_period: 1440, stop_duration: 360}"


def config_dir(tmp_path: Path, protections: str) -> Path:
    """The shipped files in a folder of their own, with ``protections:`` replaced."""
    for name in ("config.json", "universe.yaml"):
        shutil.copy(REPO / "config" / name, tmp_path / name)
    policy = (REPO / "config" / "policy.yaml").read_text()
    assert "\nprotections: []\n" in policy
    (tmp_path / "policy.yaml").write_text(
        policy.replace("\nprotections: []\n", f"\nprotections: {protections}\n"))
    return tmp_path


def test_the_first_module_name_still_imports_with_a_deprecation_warning() -> None:
    import importlib
    import sys

    sys.modules.pop("trader247.protections", None)
    with pytest.warns(DeprecationWarning, match="import strategy_protections from "
                      "trader247.protection_list"):
        old = importlib.import_module("trader247.protections")
    assert old.strategy_protections is strategy_protections


def test_exposure_cap_first_then_the_configured_ones(tmp_path: Path) -> None:
    folder = config_dir(tmp_path, f"[{GUARD}, {{method: CooldownPeriod, stop_duration: 5}}]")
    config = {"config_files": [str(folder / "config.json")], "dry_run": True}
    assert strategy_protections(config) == [
        {"method": "ExposureCap"},
        {"method": "StoplossGuard", "trade_limit": 2, "lookback_period": 1440,
         "stop_duration": 360},
        {"method": "CooldownPeriod", "stop_duration": 5},
    ]


def test_shipped_policy_gives_exposure_cap_only() -> None:
    config = {"config_files": [str(REPO / "config" / "config.json")], "dry_run": True}
    assert strategy_protections(config) == [{"method": "ExposureCap"}]


def test_bad_protection_stops_the_strategy_with_file_line_key(tmp_path: Path) -> None:
    folder = config_dir(tmp_path, "[{method: StoplossGuard, stop_duration: 0}]")
    with pytest.raises(Trader247ConfigError, match=r"policy\.yaml:\d+: protections\[0\]\."
                       r"stop_duration: must be >= 1 \(got 0\)"):
        strategy_protections({"config_files": [str(folder / "config.json")], "dry_run": True})


@pytest.mark.e2e
def test_backtest_with_stoploss_guard_locks_and_enters_nothing_while_locked(
    tmp_path: Path, replay: Replay
) -> None:
    from freqtrade.data.btanalysis import load_backtest_stats

    (tmp_path / "config").mkdir()
    folder = config_dir(tmp_path / "config", f"[{GUARD}]")
    override = tmp_path / "override.json"
    override.write_text(json.dumps({
        **exchange_override(replay.port), "enable_protections": True, "max_open_trades": 3,
        "stake_amount": 50, "strategy": "StopOutStrategy",
        "pairlists": [{"method": "StaticPairList"}],
    }))
    results = tmp_path / "results"
    results.mkdir()
    run = subprocess.run(
        [*FREQTRADE, "backtesting", "-c", str(folder / "config.json"), "-c", str(override),
         "--userdir", str(REPO / "user_data"), "--strategy-path", str(STRATEGIES),
         "-p", "BTC/USD", "ETH/USD", "SOL/USD", "--timerange", "20250301-20250308",
         "--export", "trades", "--backtest-directory", str(results), "--cache", "none"],
        capture_output=True, text=True, timeout=600, env=CHILD_ENV)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "Using resolved protection StoplossGuard" in output
    stats = load_backtest_stats(results)["strategy"]["StopOutStrategy"]
    locks = [lock for lock in stats["locks"] if lock["reason"].startswith("2 stoplosses in")]
    global_locks = [lock for lock in locks if lock["pair"] == "*"]
    assert global_locks, stats["locks"]
    stopped = [t for t in stats["trades"] if t["exit_reason"] == "stop_loss"]
    assert len(stopped) >= 2
    for lock in global_locks:
        start, end = lock["lock_timestamp"], lock["lock_end_timestamp"]
        # stop_duration 360 min from the last stopped trade's close, which the backtest stamps
        # up to one candle (1h) after the candle at which it applies the lock.
        assert 360 * 60_000 <= end - start <= 420 * 60_000
        inside = [t for t in stats["trades"] if start < t["open_timestamp"] < end]
        assert inside == [], (lock, inside)
    # Trading resumes after a lock: the guard pauses, it does not stop the bot.
    first_end = min(lock["lock_end_timestamp"] for lock in global_locks)
    assert any(t["open_timestamp"] >= first_end for t in stats["trades"])
