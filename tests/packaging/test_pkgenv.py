"""The packaging test's cached venv is shared safely: several pytest workers (xdist) or checkouts
use one venv at a time only with the same wheel; an install waits until nobody uses it."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from tests.packaging import pkgenv


@pytest.fixture
def fake_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    installs: list[str] = []

    def install(venv: Path, wheel: Path, digest: str) -> None:
        installs.append(wheel.name)
        venv.mkdir(exist_ok=True)
        (venv / pkgenv.DEPS_OK).write_text("")
        (venv / pkgenv.WHEEL_STAMP).write_text(digest)

    monkeypatch.setenv(pkgenv.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(pkgenv, "venv_key", lambda repo: "key")
    monkeypatch.setattr(pkgenv, "_install", install)
    return installs


def wheel(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(name.encode())
    return path


def test_users_of_one_wheel_share_the_venv_and_an_installer_waits(
    tmp_path: Path, fake_install: list[str]
) -> None:
    first = wheel(tmp_path, "a.whl")
    with pkgenv.installed(tmp_path, first) as venv, \
            (tmp_path / "cache" / "key.lock").open("a") as other:
        assert venv.root == tmp_path / "cache" / "key"
        fcntl.flock(other, fcntl.LOCK_SH | fcntl.LOCK_NB)  # another worker, same wheel: in
        fcntl.flock(other, fcntl.LOCK_UN)
        with pytest.raises(BlockingIOError):  # an install of another wheel must wait
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with pkgenv.installed(tmp_path, first):
        pass
    assert fake_install == ["a.whl"]  # the same wheel again: no reinstall
    with pkgenv.installed(tmp_path, wheel(tmp_path, "b.whl")):
        pass
    assert fake_install == ["a.whl", "b.whl"]


def test_an_unfinished_install_is_not_used(tmp_path: Path, fake_install: list[str]) -> None:
    first = wheel(tmp_path, "a.whl")
    with pkgenv.installed(tmp_path, first) as venv:
        pass
    (venv.root / pkgenv.DEPS_OK).unlink()  # killed while pip ran
    with pkgenv.installed(tmp_path, first):
        pass
    assert fake_install == ["a.whl", "a.whl"]
