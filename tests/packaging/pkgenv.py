"""A virtualenv outside the repository holding the wheel built from this checkout and freqtrade
from the package registry: what a freqtrade user gets from ``pip install`` (issue [P]).

Decisions:
- The venv lives in a cache directory (``$TRADER247_PKGTEST_CACHE``, else
  ``$XDG_CACHE_HOME/trader247-pkgtest``, else ``~/.cache/trader247-pkgtest``), one per key:
  the freqtrade release of the test interpreter, the Python version and a hash of our
  ``[project] dependencies``. Building it (``pip install WHEEL freqtrade[hyperopt]==X``, pip
  resolving from the registry) takes minutes, once; a changed dependency list makes a new key.
- The wheel is rebuilt from the checkout on every run (``pip wheel``, isolated build, the way a
  user builds it) and reinstalled with ``--no-deps`` only when its hash differs from the one
  installed. Hatchling's wheels are reproducible, so an unchanged checkout skips the reinstall.
- Several pytest workers (xdist) or several checkouts share the venv: a shared ``flock`` while
  a test uses it, an exclusive one to (re)install. A venv whose install did not finish (no
  ``DEPS_OK`` marker) is deleted and built again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "TRADER247_PKGTEST_CACHE"
DEPS_OK = ".trader247-deps-ok"
WHEEL_STAMP = ".trader247-wheel-sha256"
LOCK_ATTEMPTS = 5  # an installer may slip in between our exclusive and shared lock: re-check
PIP_TIMEOUT_S = 1500


@dataclass(frozen=True)
class Venv:
    root: Path
    wheel: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def env(self) -> dict[str, str]:
        """A user's shell with this venv activated: no pytest variables (freqtrade skips its
        logging set-up under pytest), nothing of the checkout's venv."""
        drop = ("PYTEST_", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "TRADER247_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        env["VIRTUAL_ENV"] = str(self.root)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        return env


def cache_root() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trader247-pkgtest"


def freqtrade_release() -> str:
    return importlib.metadata.version("freqtrade")


def venv_key(repo: Path) -> str:
    deps = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    python = f"{sys.version_info[0]}{sys.version_info[1]}"
    digest = hashlib.sha256(json.dumps([deps, python]).encode()).hexdigest()[:10]
    return f"freqtrade-{freqtrade_release()}-py{python}-{digest}"


def build_wheel(repo: Path, out: Path) -> Path:
    """``pip wheel`` of the checkout (isolated build: hatchling from the registry)."""
    out.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out),
          str(repo)])
    wheels = sorted(out.glob("trader247-*.whl"))
    assert len(wheels) == 1, f"expected one trader247 wheel in {out}, found {wheels}"
    return wheels[0]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S,
                          env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")})
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n"
                             f"{(done.stdout + done.stderr)[-4000:]}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _ready(venv: Path, digest: str) -> bool:
    stamp = venv / WHEEL_STAMP
    return (venv / DEPS_OK).is_file() and stamp.is_file() and stamp.read_text() == digest


def _install(venv: Path, wheel: Path, digest: str) -> None:
    """Under the exclusive lock: the dependencies once, then this wheel."""
    python = str(venv / "bin" / "python")
    if not (venv / DEPS_OK).is_file():
        shutil.rmtree(venv, ignore_errors=True)  # an interrupted build: start over
        base = getattr(sys, "_base_executable", sys.executable)
        _run([base, "-m", "venv", str(venv)])
        _run([python, "-m", "pip", "install", "--quiet", str(wheel),
              f"freqtrade[hyperopt]=={freqtrade_release()}"])
        (venv / DEPS_OK).write_text(freqtrade_release())
    else:
        (venv / WHEEL_STAMP).unlink(missing_ok=True)
        _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
              str(wheel)])
    (venv / WHEEL_STAMP).write_text(digest)


@contextlib.contextmanager
def installed(repo: Path, wheel: Path) -> Iterator[Venv]:
    """The cached venv with ``wheel`` installed, held (shared lock) while the caller uses it."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    key = venv_key(repo)
    venv = root / key
    digest = _sha256(wheel)
    with (root / f"{key}.lock").open("a") as lock:
        for _ in range(LOCK_ATTEMPTS):
            fcntl.flock(lock, fcntl.LOCK_SH)
            if _ready(venv, digest):
                try:
                    yield Venv(venv, wheel)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
                return
            fcntl.flock(lock, fcntl.LOCK_EX)  # converting drops the shared lock first
            if not _ready(venv, digest):
                _install(venv, wheel, digest)
        raise AssertionError(f"{venv}: reinstalled by another run {LOCK_ATTEMPTS} times while "
                             "this one waited")
