"""End-to-end fixtures: a replay exchange and real ``freqtrade`` processes on free ports.

Every process is started by a fixture and stopped in its ``finally``; nothing else is killed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import Bot, Replay, launch_bot
from trader247.cli.processes import free_port, start_replay, stop


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


@pytest.fixture
def start_bot(tmp_path: Path) -> Iterator[Callable[..., Bot]]:
    """Start dry-run bots through ``trader247 run``; all are stopped at the end of the test."""
    started: list[Bot] = []

    def start(replay: Replay, policy: Path, **kwargs: Any) -> Bot:
        bot = launch_bot(tmp_path, replay, policy, **kwargs)
        started.append(bot)
        return bot

    yield start
    for bot in started:
        stop(bot.process, grace=10.0)
