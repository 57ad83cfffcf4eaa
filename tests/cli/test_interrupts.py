"""``trader247.cli.interrupts``: signals become one :class:`Interrupted`, child groups are
stopped whole ([P] item 4). Signals are sent to this process itself (``os.kill(os.getpid())``),
so each test is deterministic; the child processes are tiny ``python -c`` scripts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trader247.cli.interrupts import (
    Interrupted,
    group_members,
    interruptible,
    run_in_group,
    stop_group,
    stop_on_signals,
)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_raises_interrupted_with_the_shell_exit_code(signum: int, code: int) -> None:
    before = signal.getsignal(signum)
    with pytest.raises(Interrupted) as caught, stop_on_signals():
        os.kill(os.getpid(), signum)
        signal.sigtimedwait([], 0)  # give the handler its turn (it runs between bytecodes)
    assert caught.value.signum == signum and caught.value.exit_code == code
    assert signal.getsignal(signum) is before  # handlers restored


def test_a_second_signal_during_the_clean_up_does_not_cut_it_short() -> None:
    cleaned = False
    with pytest.raises(Interrupted) as caught, stop_on_signals():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # raises nothing: the clean-up goes on
            signal.sigtimedwait([], 0)
            cleaned = True
    assert cleaned and caught.value.name == "SIGINT"


def test_an_ignored_signal_stays_ignored() -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # nohup, a background job
    try:
        with stop_on_signals():
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_swallowed_interrupt_is_raised_again_when_the_block_ends() -> None:
    with pytest.raises(Interrupted), stop_on_signals():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0)
        except BaseException:  # noqa: S110 - a library that swallows everything
            pass


def test_interruptible_prints_one_line_and_returns_the_code(
        capsys: pytest.CaptureFixture[str]) -> None:
    @interruptible("exposure-report")
    def handler() -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0)
        return 0

    assert handler() == 143
    assert capsys.readouterr().err == "exposure-report: stopped by SIGTERM\n"


def _tree_script(tmp_path: Path, *, stubborn: bool) -> Path:
    """A parent that starts a worker (dies on SIGTERM) and a tracker that ignores SIGTERM and
    SIGINT like multiprocessing's resource tracker: it exits when its pipe closes, or never
    (``stubborn``). Each writes its pid to ``pids``."""
    tracker = ("import signal,sys,os; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
               "signal.signal(signal.SIGINT, signal.SIG_IGN); "
               f"open({str(tmp_path / 'pids')!r}, 'a').write(f'{{os.getpid()}}\\n'); "
               + ("import time; [time.sleep(1) for _ in range(600)]" if stubborn
                  else "sys.stdin.read()"))
    script = tmp_path / "tree.py"
    script.write_text(textwrap.dedent(f"""
        import os, subprocess, sys, time
        worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        tracker = subprocess.Popen([sys.executable, "-c", {tracker!r}], stdin=subprocess.PIPE)
        with open({str(tmp_path / 'pids')!r}, "a") as out:
            out.write(f"{{os.getpid()}}\\n{{worker.pid}}\\n")
        print("ready", flush=True)
        time.sleep(600)
    """))
    return script


def _wait_ready(tmp_path: Path, count: int) -> list[int]:
    pids_file = tmp_path / "pids"
    for _ in range(600):  # 30 s
        pids = pids_file.read_text().split() if pids_file.exists() else []
        if len(pids) >= count:
            return [int(p) for p in pids]
        signal.sigtimedwait([], 0.05)
    raise AssertionError(f"the tree did not start: {pids_file} holds {pids}")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="walks /proc")
def test_an_interrupt_stops_the_whole_group_and_waits_for_the_trackers(tmp_path: Path) -> None:
    def poll() -> None:
        if len((tmp_path / "pids").read_text().split()) >= 3:  # parent, worker, tracker
            os.kill(os.getpid(), signal.SIGINT)

    with (tmp_path / "log").open("w") as log, pytest.raises(Interrupted) as caught, \
            stop_on_signals():
        (tmp_path / "pids").touch()
        run_in_group([sys.executable, str(_tree_script(tmp_path, stubborn=False))], log=log,
                     name="tree", poll=poll, every=0.05)
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    assert len(pids) == 3 and not [p for p in pids if _alive(p)]
    assert "tree: 3 processes stopped in" in caught.value.line("cmd")
    assert "(SIGTERM)" in caught.value.line("cmd")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="walks /proc")
def test_what_ignores_sigterm_for_ever_gets_sigkill_after_the_grace(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, str(_tree_script(tmp_path, stubborn=True))],
                               stdout=subprocess.DEVNULL, start_new_session=True)
    pids = _wait_ready(tmp_path, 3)
    note = stop_group(process, grace=0.5, kill_wait=5.0)
    assert note.startswith("3 processes stopped in") and "SIGTERM, then SIGKILL" in note
    assert group_members(process.pid) == [] and not [p for p in pids if _alive(p)]
