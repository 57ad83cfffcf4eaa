"""The supported freqtrade releases: one range, and one message outside it ([R] 4).

Outside the range is faked with ``TRADER247_TEST_FREQTRADE_VERSION`` (the hook's test-only
stand-in for freqtrade's ``__version__``); ``make test-compat`` also installs a real release
outside the range and checks ``freqtrade --version`` there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import trader247_hook as hook
from trader247 import FREQTRADE_RELEASES, __version__

pytestmark = pytest.mark.compat

REPO = Path(__file__).resolve().parents[2]
FREQTRADE = str(Path(sys.executable).parent / "freqtrade")


def test_pyproject_pins_exactly_the_tested_range() -> None:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d for d in dependencies if re.match(r"freqtrade\b", d)]
    assert pins == [hook.requirement(FREQTRADE_RELEASES)]
    assert pins == ["freqtrade[hyperopt]>=2026.6,<2026.10"]


def test_the_range_is_consecutive_months_oldest_first() -> None:
    months = [int(y) * 12 + int(m) for y, m in (r.split(".") for r in FREQTRADE_RELEASES)]
    assert months == list(range(months[0], months[0] + len(months)))


def test_the_installed_freqtrade_is_in_the_range() -> None:
    import freqtrade

    assert hook.release_of(freqtrade.__version__) in FREQTRADE_RELEASES


@pytest.mark.parametrize(("version", "tested"), [
    ("2026.5", False), ("2026.5.1", False), ("2026.6", True), ("2026.9", True),
    ("2026.9.2", True), ("2026.10", False), ("2026.10-dev-abc123", False), ("unknown", False),
])
def test_which_versions_are_refused(version: str, tested: bool) -> None:
    assert (hook.untested_release_message(version) is None) is tested


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("PYTEST_") and k not in (hook.ALLOW_UNTESTED_ENV,
                                                          hook.TEST_VERSION_ENV)}
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120,
                          env={**clean, **env}, cwd=REPO)


EXPECTED = (f"ERROR: trader247 {__version__} supports freqtrade 2026.6 to 2026.9, but freqtrade "
            f"{{found}} is installed: run pip install 'freqtrade[hyperopt]>=2026.6,<2026.10', "
            f"or set TRADER247_ALLOW_UNTESTED_FREQTRADE=1 to run it untested")


@pytest.mark.parametrize(("found", "command"), [
    ("2026.5", [FREQTRADE, "--version"]),
    ("2026.10", [FREQTRADE, "--version"]),
    ("2026.5", [FREQTRADE, "trade", "--dry-run", "-c", "config/config.json"]),
    ("2026.5", [sys.executable, "-m", "trader247.cli", "run", "--pid-file", "{tmp}/t.pid"]),
    ("2026.5", [sys.executable, "-m", "trader247.cli", "run", "--pid-file", "{tmp}/t.pid",
                "--skip-validation"]),
])
def test_an_untested_release_stops_with_one_line_and_exit_2(
    found: str, command: list[str], tmp_path: Path
) -> None:
    command = [part.format(tmp=tmp_path) for part in command]
    result = run(*command, TRADER247_TEST_FREQTRADE_VERSION=found)
    assert result.returncode == hook.UNTESTED_EXIT_CODE == 2, result.stderr[-2000:]
    assert result.stderr.splitlines() == [EXPECTED.format(found=found)]
    assert result.stdout == ""


def test_the_override_runs_an_untested_release_with_a_one_line_warning() -> None:
    result = run(FREQTRADE, "--version", TRADER247_TEST_FREQTRADE_VERSION="2026.5",
                 TRADER247_ALLOW_UNTESTED_FREQTRADE="1")
    assert result.returncode == 0, result.stderr[-2000:]
    warning = EXPECTED.format(found="2026.5").replace("ERROR: ", "WARNING: ", 1)
    assert result.stderr.splitlines() == [
        f"{warning} (TRADER247_ALLOW_UNTESTED_FREQTRADE=1: running untested)"]
    assert "Freqtrade Version:" in result.stdout


def test_a_tested_release_starts_silently() -> None:
    result = run(FREQTRADE, "--version")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "trader247" not in result.stderr
