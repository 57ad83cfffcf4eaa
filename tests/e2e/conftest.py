"""End-to-end fixtures: a replay exchange and real ``freqtrade`` processes on free ports.

Every process is started by a fixture and stopped in its ``finally``; nothing else is killed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from trader247.cli.demo import exchange_override
from trader247.cli.processes import free_port, start_replay, stop

REPO = Path(__file__).resolve().parents[2]
FREQTRADE = [sys.executable, "-m", "freqtrade"]
# freqtrade skips its whole logging set-up when PYTEST_VERSION is set (pytest >= 8.2 exports it
# to child processes): children get an environment without PYTEST_* so they log as for a user.
CHILD_ENV = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


@dataclass
class Replay:
    port: int
    process: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def replay_factory(data_dir: Path, tmp_path: Path) -> Iterator[Callable[..., Replay]]:
    started: list[subprocess.Popen[str]] = []

    def make(*extra_args: str) -> Replay:
        port = free_port()
        log = (tmp_path / f"replay-{port}.log").open("w")
        process = start_replay(data_dir, port, extra_args=extra_args, log=log)
        started.append(process)
        return Replay(port, process)

    yield make
    for process in started:
        stop(process, grace=5.0)


@pytest.fixture
def replay(replay_factory: Callable[..., Replay]) -> Replay:
    return replay_factory()


def write_config(tmp_path: Path, replay: Replay, **overrides: Any) -> Path:
    """The bundled config, pointed at this test's replay port, with test-sized internals."""
    config: dict[str, Any] = exchange_override(replay.port)
    config["internals"] = {"process_throttle_secs": 1, "heartbeat_interval": 1}
    config["api_server"] = {"enabled": False}
    config.update(overrides)
    path = tmp_path / "override.json"
    path.write_text(json.dumps(config))
    return path


def freqtrade_args(tmp_path: Path, override: Path, *args: str) -> list[str]:
    return [*FREQTRADE, *args, "-c", str(REPO / "config" / "config.json"), "-c", str(override),
            "--userdir", str(REPO / "user_data")]


def wait_for_log(logfile: Path, pattern: str, *, count: int = 1, timeout: float,
                 process: subprocess.Popen[Any] | None = None, after: str | None = None) -> str:
    """Wait until ``pattern`` occurs ``count`` times (after the first ``after`` match)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = logfile.read_text() if logfile.exists() else ""
        scope = text
        if after is not None:
            marker = re.search(after, text)
            scope = text[marker.end():] if marker else ""
        if len(re.findall(pattern, scope)) >= count:
            return text
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.25)
    raise AssertionError(f"{pattern!r} x{count} not seen in {timeout}s; log tail:\n{text[-3000:]}")
