"""``trader247 walk-forward`` shows progress and stops cleanly ([P] item 4).

A tiny walk-forward (one 30-day window, 2 pairs, ``-j 2`` so that freqtrade's hyperopt runs
joblib workers, resource trackers and a forkserver) is interrupted during its hyperopt: as a
terminal's Ctrl-C does (SIGINT to the whole foreground process group) once the first epoch line
is printed, and as ``kill PID`` does (SIGTERM to trader247 alone) once the hyperopt's workers
exist. Then: exit 130 / 143, exactly one line on stderr after the progress lines, no
traceback, and no process of the tree seen before the signal, nor any process of its sessions,
is alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.support import CHILD_ENV, REPO

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path("/proc").is_dir(), reason="walks /proc")]
COMMAND = [sys.executable, "-m", "trader247.cli", "walk-forward", "--pairs", "BTC/USD", "ETH/USD",
           "--timerange", "20240601-20240720", "--train-days", "30", "--test-days", "19",
           "--epochs", "400", "-j", "2"]
STOP_TIMEOUT_S = 30.0  # the command's own bound is 10 s SIGTERM grace + 5 s after SIGKILL


def _procs() -> dict[int, tuple[int, int, str, str]]:
    """pid -> (ppid, session id, state, command line) of every process."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        out[int(entry.name)] = (int(fields[1]), int(fields[3]), fields[0], cmdline)
    return out


def _tree(root: int) -> dict[int, tuple[int, int, str, str]]:
    procs = _procs()
    found = {root}
    for _ in range(len(procs)):  # each round adds a generation; at most every process
        more = {pid for pid, info in procs.items() if info[0] in found} - found
        if not more:
            break
        found |= more
    return {pid: procs[pid] for pid in found if pid in procs}


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    stderr = tmp_path / "stderr.txt"
    process = subprocess.Popen(
        [*COMMAND, "--out", str(tmp_path / "wf")], cwd=REPO, env=CHILD_ENV, text=True,
        stdout=subprocess.DEVNULL, stderr=stderr.open("w"), start_new_session=True,
        # as from an interactive shell: a non-interactive one starts background jobs with
        # SIGINT ignored, and an ignored SIGINT stays ignored (by design)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    return process, stderr


def _wait_until(process: subprocess.Popen[str], stderr: Path, ready: str) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if ready == "workers":
            if sum("loky" in info[3] for info in _tree(process.pid).values()) >= 2:
                return
        elif ready in stderr.read_text():
            return
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"never saw {ready!r} (exit {process.poll()}):\n{stderr.read_text()[-3000:]}")


def _stop_and_check(process: subprocess.Popen[str], stderr: Path, send: str,
                    signum: int) -> str:
    before = _tree(process.pid)
    assert sum("loky" in info[3] for info in before.values()) >= 2, before  # workers run
    sessions = {info[1] for info in before.values()}
    printed = len(stderr.read_text().splitlines())
    if send == "group":
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)
    try:
        code = process.wait(timeout=STOP_TIMEOUT_S)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    text = stderr.read_text()
    assert code == 128 + signum, text[-3000:]
    assert "Traceback" not in text
    after = text.splitlines()[printed:]
    new = [line for line in after if not line.startswith("[1/1] hyperopt epoch")]
    assert len(new) == 1, after
    left = {pid: info for pid, info in _procs().items()
            if info[2] not in "ZX" and (pid in before or info[1] in sessions)}
    assert not left, f"left running: {left}"
    return new[0]


def test_ctrl_c_during_hyperopt_stops_everything_with_one_line(tmp_path: Path) -> None:
    process, stderr = _start(tmp_path)
    _wait_until(process, stderr, "[1/1] hyperopt epoch ")
    line = _stop_and_check(process, stderr, "group", signal.SIGINT)
    assert line.startswith("walk-forward: stopped by SIGINT (freqtrade hyperopt: ")
    assert "processes stopped in" in line and f"partial logs in {tmp_path / 'wf' / 'logs'}" in line
    assert "[1/1] hyperopt Trader247Strategy on 20240601-20240701 (400 epochs)..." in (
        stderr.read_text())


def test_sigterm_to_trader247_alone_stops_freqtrade_and_the_replay(tmp_path: Path) -> None:
    process, stderr = _start(tmp_path)
    _wait_until(process, stderr, "workers")
    line = _stop_and_check(process, stderr, "pid", signal.SIGTERM)
    assert line.startswith("walk-forward: stopped by SIGTERM (freqtrade hyperopt: ")
