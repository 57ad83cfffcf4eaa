"""The ``trader247-replay`` command: ready line, clean signals, one-line errors with exit 2."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from tests.replay.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
REPLAY = REPO / ".venv" / "bin" / "trader247-replay"


def command(*args: str) -> list[str]:
    # the console script when installed, else the module (same main())
    if REPLAY.exists():
        return [str(REPLAY), *args]
    return [sys.executable, "-m", "trader247.replay", *args]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serves_prints_one_ready_line_and_stops_cleanly(
    dataset: dict[str, Any], tmp_path: Path, processes: list[subprocess.Popen[str]],
    sig: signal.Signals,
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("faults:\n  - {kind: latency, endpoint: time, ms: 1}\n")
    process = subprocess.Popen(
        command("--data-dir", str(dataset["dir"]), "--port", "0", "--speed", "2",
                "--scenario", str(scenario)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    processes.append(process)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("replay exchange listening on http://127.0.0.1:")
    assert line.rstrip().endswith("(4 pairs)")
    url = line.split(" on ")[1].split()[0]
    assert not url.endswith(":0")
    with urlopen(url + "/_replay/state", timeout=5) as response:
        state = json.load(response)
    assert state["speed"] == 2 and state["faults"][0]["kind"] == "latency"
    started = time.monotonic()
    process.send_signal(sig)
    out, err = process.communicate(timeout=10)
    assert time.monotonic() - started < 5
    assert process.returncode == 0, err
    assert out == "" and "Traceback" not in err


def run_bad(*args: str) -> tuple[int, str]:
    result = subprocess.run(command(*args), capture_output=True, text=True, timeout=30)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("trader247-replay: error: ")
    return result.returncode, lines[0]


def test_missing_and_empty_data_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    code, message = run_bad("--data-dir", str(missing), "--port", "0")
    assert code == 2 and str(missing) in message and "does not exist" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    code, message = run_bad("--data-dir", str(empty), "--port", "0")
    assert code == 2 and str(empty) in message and "no OHLCV files" in message


def test_unreadable_data_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "BTC_USD-1h.feather").write_bytes(b"\x00not a feather file")
    code, message = run_bad("--data-dir", str(broken), "--port", "0")
    assert code == 2 and str(broken / "BTC_USD-1h.feather") in message


def test_bad_scenario_file(dataset: dict[str, Any], tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("faults:\n  - {kind: http_5xx, status: 200}\n")
    code, message = run_bad("--data-dir", str(dataset["dir"]), "--scenario", str(scenario))
    assert code == 2 and str(scenario) in message and "faults[0].status" in message


def test_port_in_use(dataset: dict[str, Any]) -> None:
    port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen(1)
        code, message = run_bad("--data-dir", str(dataset["dir"]), "--port", str(port))
    assert code == 2 and f"127.0.0.1:{port}" in message and "address already in use" in message


def test_bad_flags_are_one_line_errors(tmp_path: Path) -> None:
    code, message = run_bad("--speed", "0")
    assert code == 2 and "--speed" in message and "positive" in message
    code, message = run_bad("--port", "70000")
    assert code == 2 and "--port" in message
