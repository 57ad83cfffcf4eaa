"""Every benchmark script runs in its smoke mode (``bench/_smoke.py``), so a bench that breaks
fails the default suite instead of the next ``make bench``.

A smoke run is tiny inputs and seconds of work; no timing is asserted, only that the script's
code path ran to its end: exit 0 and ``_smoke.DONE`` as the last line. A new ``bench/*.py``
without a ``--smoke`` mode fails here (argparse refuses the flag, or the line is missing).
A script that reads ``TRADER247_TEST_PG_CLUSTER`` borrows the session's PostgreSQL cluster.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.support import CHILD_ENV
from tests.pg import SHARED_ENV

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def _smoke_done_line() -> str:
    spec = importlib.util.spec_from_file_location("bench_smoke", BENCH / "_smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.DONE)


def test_every_bench_script_is_collected() -> None:
    # The glob is the list: make bench runs the same files (Makefile BENCHES).
    assert len(SCRIPTS) >= 12 and "cap_backtest.py" in SCRIPTS
    makefile = (REPO / "Makefile").read_text()
    assert "BENCHES := $(sort $(wildcard bench/[!_]*.py))" in makefile


@pytest.mark.e2e
@pytest.mark.timeout(600)
@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_smoke_mode_runs(script: str, data_dir: Path,
                               request: pytest.FixtureRequest) -> None:
    env = dict(CHILD_ENV)
    if SHARED_ENV in (BENCH / script).read_text():
        env[SHARED_ENV] = request.getfixturevalue("postgres_cluster").to_env()
    done = subprocess.run([sys.executable, str(BENCH / script), "--smoke"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=540)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{script} --smoke exited {done.returncode}:\n{output[-4000:]}"
    lines = done.stdout.strip().splitlines()
    assert lines and lines[-1] == _smoke_done_line(), (
        f"{script} --smoke did not end with the smoke line (bench/_smoke.py):\n{output[-4000:]}")
