"""``make test-compat``: the compat test subset on every supported freqtrade release.

For each release in ``trader247.FREQTRADE_RELEASES`` a virtualenv ``.compat/freqtrade-<release>``
gets that release (its newest patch release, ``~=<release>.0``) and this checkout (editable, with
the dev extras), then runs ``pytest -m compat`` (tests/compat: the freqtrade API our patches and
the price tape rely on, plain ``freqtrade test-pairlist`` / ``backtesting`` / ``trade --dry-run``
with our three plugins against the replay exchange, the launcher's exit codes). A release outside
the range (``--outside``, default the month before the first) gets a venv too, and must be
refused by the start-up hook with its one line and exit code 2 on ``freqtrade --version``.

Venvs are reused; one is re-installed when pyproject.toml or hatch_build.py changed since it was
built. Prints a table release -> pass/fail and exits 1 if any row failed. Logs:
``.compat/freqtrade-<release>/pytest.log``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPAT = REPO / ".compat"
sys.path.insert(0, str(REPO / "src"))

from trader247 import FREQTRADE_RELEASES  # noqa: E402
from trader247_hook import UNTESTED_EXIT_CODE  # noqa: E402


@dataclass
class Row:
    release: str
    installed: str
    outcome: str
    detail: str
    seconds: float


def _stamp() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "hatch_build.py"):
        digest.update((REPO / name).read_bytes())
    return digest.hexdigest()[:16]


def _python() -> str:
    return shutil.which("python3.11") or sys.executable


# Pins a release needs that its own package metadata does not state. freqtrade 2026.6-2026.8
# import ``joblib.externals.cloudpickle`` (hyperopt, freqai), which joblib 1.6.0 removed; their
# requirements files pin joblib 1.5.x, but ``pip install freqtrade[hyperopt]`` does not (README,
# "Supported freqtrade releases").
EXTRA_PINS: dict[str, tuple[str, ...]] = {
    release: ("joblib<1.6",) for release in ("2026.6", "2026.7", "2026.8")
}


def prepare(release: str, *, outside: bool = False) -> Path:
    """The release's venv, created or refreshed as needed; returns its python."""
    venv = COMPAT / f"freqtrade-{release}"
    python = venv / "bin" / "python"
    stamp = venv / ".trader247-installed"
    if stamp.exists() and stamp.read_text() == _stamp():
        return python
    if not python.exists():
        subprocess.run([_python(), "-m", "venv", str(venv)], check=True)
    print(f"  installing freqtrade {release} into {venv.relative_to(REPO)} ...", flush=True)
    if outside:
        # Our package cannot be installed with its dependencies next to a release outside its
        # range (pip refuses): the start-up hook alone is what is under test there.
        _pip(python, f"freqtrade~={release}.0")
        _pip(python, "--no-deps", "-e", ".")
    else:
        _pip(python, f"freqtrade[hyperopt]~={release}.0", "-e", ".[dev]",
             *EXTRA_PINS.get(release, ()))
    stamp.write_text(_stamp())
    return python


def _pip(python: Path, *args: str) -> None:
    """pip install, its output shown only when it fails."""
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        cwd=REPO, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-5000:])
        raise SystemExit(f"pip install {' '.join(args)} failed (exit {result.returncode})")


def installed_version(python: Path) -> str:
    result = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('freqtrade'))"],
        capture_output=True, text=True, check=False)
    return result.stdout.strip() or "?"


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV"))}
    env.pop("TRADER247_ALLOW_UNTESTED_FREQTRADE", None)
    env.pop("TRADER247_TEST_FREQTRADE_VERSION", None)
    return env


def run_release(release: str, pytest_args: list[str]) -> Row:
    started = time.monotonic()
    python = prepare(release)
    log = python.parent.parent / "pytest.log"
    command = [str(python), "-m", "pytest", "-m", "compat", "-p", "no:cacheprovider",
               "tests/compat", *pytest_args]
    with log.open("w") as out:
        result = subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                env=child_env(), check=False)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    summary = next((line.strip("= ") for line in reversed(lines)
                    if " passed" in line or " failed" in line or " error" in line),
                   lines[-1] if lines else "no output")
    return Row(release, installed_version(python), "pass" if result.returncode == 0 else "FAIL",
               summary, time.monotonic() - started)


def run_outside(release: str) -> Row:
    started = time.monotonic()
    python = prepare(release, outside=True)
    result = subprocess.run([str(python.parent / "freqtrade"), "--version"], capture_output=True,
                            text=True, env=child_env(), check=False, timeout=120)
    lines = result.stderr.splitlines()
    refused = (result.returncode == UNTESTED_EXIT_CODE and len(lines) == 1
               and lines[0].startswith("ERROR: trader247 ") and not result.stdout)
    detail = (f"refused, exit {result.returncode}: {lines[0][:60]}..." if refused else
              f"exit {result.returncode}, stderr {result.stderr[-300:]!r}")
    return Row(f"{release} (outside)", installed_version(python),
               "pass" if refused else "FAIL", detail, time.monotonic() - started)


def _previous(release: str) -> str:
    year, month = (int(part) for part in release.split("."))
    return f"{year - 1}.12" if month == 1 else f"{year}.{month - 1}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("releases", nargs="*", default=list(FREQTRADE_RELEASES))
    parser.add_argument("--outside", default=_previous(FREQTRADE_RELEASES[0]),
                        help="a release outside the range that must be refused ('' to skip)")
    parser.add_argument("--pytest-args", default="", help="extra pytest arguments")
    args = parser.parse_args()
    rows: list[Row] = []
    for release in args.releases:
        print(f"freqtrade {release}:", flush=True)
        rows.append(run_release(release, args.pytest_args.split()))
        print(f"  {rows[-1].outcome}: {rows[-1].detail}", flush=True)
    if args.outside:
        print(f"freqtrade {args.outside} (outside the range):", flush=True)
        rows.append(run_outside(args.outside))
        print(f"  {rows[-1].outcome}: {rows[-1].detail}", flush=True)
    print("\n| release | installed | result | detail | time |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row.release} | {row.installed} | {row.outcome} | {row.detail} | "
              f"{row.seconds:.0f} s |")
    return 0 if all(row.outcome == "pass" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
