"""Issue [P]: a freqtrade user's own setup, from the wheel, as the README's "Install into your own
freqtrade setup" section tells it.

The wheel is built from this checkout and installed with freqtrade into a virtualenv outside the
repository (``tests/packaging/pkgenv.py``: cached, pip from the registry). The commands are the
README section's own, run in order in an empty directory; only test-only arguments are added
(the replay's URL as one more ``-c`` layer, ``--datadir`` with the bundled candles).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.pkgenv import Venv, build_wheel, installed
from tests.packaging.readme import readme_commands, readme_config
from trader247.cli.demo import exchange_override
from trader247.cli.processes import free_port, stop

REPO = Path(__file__).resolve().parents[2]
OK_LINE = "✅ All configuration files are valid!"
COMMAND_TIMEOUT_S = 300

# What a user needs, written out here and not taken from hatch_build.py: checkout glob -> folder
# of the installed package. A file missing from the wheel (or a new plugin that hatch_build.py
# does not ship) fails the test.
NEEDED = {
    "user_data/pairlists/*.py": "trader247/_plugins/pairlists",
    "user_data/protections/*.py": "trader247/_plugins/protections",
    "user_data/strategies/*.py": "trader247/_plugins/strategies",
    "config/*.yaml": "trader247/_data/config",
    "config/schema/*.json": "trader247/_data/config/schema",
    "monitoring/prometheus/*.yml": "trader247/_data/monitoring/prometheus",
    "monitoring/grafana/dashboards/*": "trader247/_data/monitoring/grafana/dashboards",
    "monitoring/grafana/provisioning/dashboards/*":
        "trader247/_data/monitoring/grafana/provisioning/dashboards",
    "monitoring/grafana/provisioning/datasources/*":
        "trader247/_data/monitoring/grafana/provisioning/datasources",
}

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]  # a cold venv build takes minutes


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(REPO, tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def venv(wheel: Path) -> Iterator[Venv]:
    with installed(REPO, wheel) as env:
        yield env


def test_the_wheel_carries_every_file_a_user_needs(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        missing, differ = [], []
        for pattern, folder in NEEDED.items():
            sources = [p for p in sorted(REPO.glob(pattern)) if p.is_file()]
            assert sources, f"nothing matches {pattern} in the checkout"
            for source in sources:
                member = f"{folder}/{source.name}"
                if member not in names:
                    missing.append(member)
                elif archive.read(member) != source.read_bytes():
                    differ.append(member)
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    assert missing == [] and differ == [], f"missing: {missing}; not the checkout's: {differ}"
    assert "trader247_startup.pth" in names and "trader247_hook.py" in names
    assert "trader247 = " in scripts and "trader247-replay = " in scripts
    # Only the package: no tests, no candles, no checkout files at the top.
    assert {n.split("/")[0] for n in names} == {
        "trader247", "trader247_hook.py", "trader247_startup.pth",
        next(n.split("/")[0] for n in names if ".dist-info/" in n)}


def start_installed_replay(venv: Venv, data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes],
                                                                             int]:
    """``trader247-replay`` of the installed package; ready when it logs ``listening on``."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(venv.bin / "trader247-replay"), "--data-dir", str(data_dir), "--host",
             "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=venv.env(), start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if "listening on" in log.read_text(errors="replace"):
            return process, port
        time.sleep(0.2)
    stop(process, grace=2.0)
    raise AssertionError(f"installed replay did not start:\n{log.read_text()[-3000:]}")


def run(venv: Venv, work: Path, words: list[str]) -> subprocess.CompletedProcess[str]:
    program = venv.bin / words[0]
    assert program.is_file(), f"{words[0]} is not installed in {venv.root}"
    return subprocess.run([str(program), *words[1:]], cwd=work, env=venv.env(),
                          capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)


def check_missing_files_are_explained(venv: Venv, work: Path, validate: list[str],
                                      userdir: Path) -> None:
    """Before ``init-userdir``: each missing file names its absolute path and the command."""
    done = run(venv, work, validate)
    assert done.returncode == 1, done.stdout + done.stderr
    command = f"trader247 init-userdir --userdir {userdir} --config-dir {work}"
    for name in ("policy.yaml", "universe.yaml"):
        assert (f"{name}: file not found (looked for {work / name}); create it with "
                f"`{command}`") in done.stdout, done.stdout


def check_step(words: list[str], done: subprocess.CompletedProcess[str], work: Path,
               userdir: Path) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{shlex.join(words)}:\n{output[-4000:]}"
    flat = output.replace("\n", "")  # freqtrade's console log wraps long lines
    step = tuple(words[:2])
    if step == ("freqtrade", "create-userdir"):
        assert (userdir / "strategies").is_dir()
    elif step == ("trader247", "init-userdir"):
        for path in (userdir / "pairlists" / "TieredLiquidityPairList.py",
                     userdir / "protections" / "ExposureCap.py",
                     userdir / "strategies" / "Trader247Strategy.py",
                     work / "policy.yaml", work / "universe.yaml",
                     work / "schema" / "policy.schema.json"):
            assert f"created  {path}\n" in done.stdout, done.stdout
    elif step == ("trader247", "validate"):
        assert done.stdout.strip().endswith(OK_LINE), output
    elif step == ("freqtrade", "list-strategies"):
        rows = [line for line in done.stdout.splitlines() if "Trader247Strategy" in line]
        assert len(rows) == 1 and " OK " in rows[0], done.stdout
        assert "DUPLICATE NAME" not in done.stdout
    elif step == ("freqtrade", "test-pairlist"):
        assert (f"Using resolved pairlist TieredLiquidityPairList from "
                f"'{userdir / 'pairlists' / 'TieredLiquidityPairList.py'}'") in flat
        assert re.search(r"Pairs for USD: \n?.*'BTC/USD'", output), output[-3000:]
    elif step == ("freqtrade", "backtesting"):
        assert (f"Using resolved protection ExposureCap from "
                f"'{userdir / 'protections' / 'ExposureCap.py'}'") in flat, output[-3000:]
        assert "BACKTESTING REPORT" in output, output[-3000:]
    else:
        raise AssertionError(f"README command without an expectation here: {shlex.join(words)}")


def test_a_freqtrade_user_installs_the_wheel_into_their_own_setup(
    venv: Venv, data_dir: Path, tmp_path: Path
) -> None:
    work = tmp_path / "bot"
    work.mkdir()
    (work / "config.json").write_text(readme_config())
    commands = readme_commands()
    userdir = work / commands[0][commands[0].index("--userdir") + 1]
    # The installed package, not this checkout, answers.
    where = run(venv, work, ["python", "-c", "import trader247, trader247_hook; "
                             "print(trader247.__file__, trader247_hook.__file__)"])
    assert all(Path(p).is_relative_to(venv.root) for p in where.stdout.split()), where.stdout

    process, port = start_installed_replay(venv, data_dir, tmp_path / "replay.log")
    try:
        (work / "replay.json").write_text(json.dumps(exchange_override(port)))
        extra = {"test-pairlist": ["-c", "replay.json"],
                 "backtesting": ["-c", "replay.json", "--datadir", str(data_dir)]}
        for words in commands:
            if words[:2] == ["trader247", "init-userdir"]:
                validate = next(c for c in commands if c[:2] == ["trader247", "validate"])
                check_missing_files_are_explained(venv, work, validate, userdir)
            done = run(venv, work, [*words, *extra.get(words[1], [])])
            check_step(words, done, work, userdir)
    finally:
        stop(process, grace=5.0)
