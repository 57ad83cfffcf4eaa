"""Exit codes: ``trader247 run`` maps freqtrade's configuration errors to 2 ([R] 4).

freqtrade's ``main()`` logs a ``ConfigurationError`` and exits 0; plain ``freqtrade trade``
keeps that (README), ``trader247 run`` exits 2 with freqtrade's one message. The end-to-end
pair runs on every supported release (``compat``): it pins the freqtrade behaviour the
launcher reads.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest
from tests.e2e.support import CHILD_ENV, REPO, Replay, freqtrade_args, write_config

from trader247.cli import launcher

MESSAGE = "Configuration error: `max_open_trades` and `stake_amount` cannot both be unlimited."


def fake_main(code: Any, log: str | None = None) -> Any:
    """freqtrade's main: its logging set-up routes every record to ``bufferHandler`` too."""
    from freqtrade.loggers import bufferHandler

    def main(argv: list[str]) -> NoReturn:
        assert argv[0] == "trade"
        if log is not None:
            bufferHandler.handle(logging.getLogger("freqtrade").makeRecord(
                "freqtrade", logging.ERROR, "main.py", 1, log, None, None))
        sys.exit(code)

    return main


@pytest.mark.parametrize(("code", "log", "expected"), [
    (None, f"{MESSAGE}\nPlease make sure to review the documentation at ...", 2),
    (0, "Configuration error: something else", 2),
    (None, None, 0),          # a normal end
    (130, None, 0),           # SIGTERM / SIGINT after freqtrade's clean shutdown
    (2, "Could not load markets, therefore cannot start.", 2),  # FreqtradeException: its own 2
    (1, None, 1),             # "Fatal exception!"
    ("message", None, 1),
])
def test_trade_maps_freqtrades_exit(
    monkeypatch: pytest.MonkeyPatch, code: Any, log: str | None, expected: int
) -> None:
    import freqtrade.main
    from freqtrade.loggers import bufferHandler

    monkeypatch.setattr(bufferHandler, "buffer", [])
    monkeypatch.setattr(freqtrade.main, "main", fake_main(code, log))
    assert launcher.trade(["-c", "config/config.json"]) == expected


@pytest.mark.e2e
@pytest.mark.compat
@pytest.mark.parametrize(("runner", "expected"), [("trader247 run", 2), ("freqtrade trade", 0)])
def test_a_configuration_error_in_the_bot(
    tmp_path: Path, replay: Replay, runner: str, expected: int
) -> None:
    # Passes freqtrade's config loading; FreqtradeBot's consistency check raises it.
    override = json.loads(write_config(tmp_path, replay).read_text())
    override["max_open_trades"] = -1
    config = tmp_path / "bad.json"
    config.write_text(json.dumps(override))
    pid_file = tmp_path / "trader247.pid"
    if runner == "trader247 run":
        command = [sys.executable, "-m", "trader247.cli", "run", "--pid-file", str(pid_file),
                   "--skip-validation", "--", "--dry-run", "-c", str(REPO / "config" / "config.json"),
                   "-c", str(config), "--userdir", str(REPO / "user_data"),
                   "--db-url", f"sqlite:///{tmp_path}/dry.sqlite"]
    else:
        command = freqtrade_args(tmp_path, config, "trade", "--dry-run")
        command += ["--db-url", f"sqlite:///{tmp_path}/dry.sqlite"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, env=CHILD_ENV,
                            cwd=REPO)
    output = result.stdout + result.stderr
    assert result.returncode == expected, output[-3000:]
    assert output.count(MESSAGE) == 1, output[-3000:]
    assert "Traceback" not in output
    assert not pid_file.exists()
