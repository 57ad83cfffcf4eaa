"""The migrated real config runs: ``trader247 migrate`` (which runs freqtrade's own config
validation), ``trader247 validate``, then ``freqtrade trade --dry-run`` and ``freqtrade
backtesting`` with the written files against the replay exchange (both at once, one replay)."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.support import CHILD_ENV, FREQTRADE, REPO, Replay, wait_for_log
from tests.migrate.conftest import LATEST, REAL
from trader247.cli.demo import exchange_override
from trader247.cli.processes import stop
from trader247.cli.validate import report
from trader247.migrate.cli import main as migrate_main

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("source, keys, protections, slots, stoploss", [
    (REAL, 342, {"MaxDrawdown": 3, "StoplossGuard": 2, "LowProfitPairs": 1,
                 "CooldownPeriod": 0}, 12, -0.08),
    (LATEST, 494, {"MaxDrawdown": 3, "StoplossGuard": 2, "LowProfitPairs": 1,
                   "CooldownPeriod": 1}, 8, -0.1),
], ids=["v2_real", "v2_latest"])
def test_migrated_real_config_validates_trades_and_backtests(
    tmp_path: Path, replay: Replay, capsys: pytest.CaptureFixture[str], source: Path, keys: int,
    protections: dict[str, int], slots: int, stoploss: float,
) -> None:
    target = tmp_path / "migrated"
    assert migrate_main(["--from", str(source), "--to", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"{keys} source keys" in out and "unexplained: 0" in out
    assert report([str(target / "config.json")], "text") == 0
    assert capsys.readouterr().out.strip().endswith("✅ All configuration files are valid!")

    override = tmp_path / "replay.json"
    override.write_text(json.dumps(exchange_override(replay.port)))
    configs = ["-c", str(target / "config.json"), "-c", str(override),
               "--userdir", str(REPO / "user_data")]
    trade_log = tmp_path / "trade.log"
    bot = subprocess.Popen(
        [*FREQTRADE, "trade", "--dry-run", *configs, "--db-url",
         f"sqlite:///{tmp_path / 'dry.sqlite'}"],
        stdout=trade_log.open("w"), stderr=subprocess.STDOUT, env=CHILD_ENV,
        start_new_session=True)
    try:
        backtest = subprocess.run(
            [*FREQTRADE, "backtesting", *configs, "--timerange", "20250501-20250508",
             "--export", "none", "--cache", "none"],
            capture_output=True, text=True, timeout=600, env=CHILD_ENV)
        wait_for_log(trade_log, r"Whitelist with \d+ pairs", timeout=120, process=bot)
    finally:
        stop(bot, grace=10.0, sig=signal.SIGTERM)
    output = backtest.stdout + backtest.stderr
    assert backtest.returncode == 0, output[-3000:]
    assert "BACKTESTING REPORT" in output
    log = trade_log.read_text()
    assert "Traceback" not in log
    # The migrated protections are freqtrade's own, after ExposureCap, in the bot and the test.
    for text in (log, output):
        assert "Using resolved protection ExposureCap" in text
        for method, count in protections.items():
            assert text.count(f"Using resolved protection {method}") == count, method
    assert f"Strategy using max_open_trades: {slots}" in log
    assert f"Strategy using stoploss: {stoploss}" in log
