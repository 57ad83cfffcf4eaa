"""``trader247 init-userdir``: plugins into the user dir, default YAML files into the config dir,
never overwriting; bad input gets one clear line and exit code 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trader247.cli import main as cli_main
from trader247.cli import userdir as userdir_cli

REPO = Path(__file__).resolve().parents[2]
PLUGINS = ("pairlists/TieredLiquidityPairList.py", "protections/ExposureCap.py",
           "strategies/Trader247Strategy.py")
CONFIG_FILES = ("policy.yaml", "universe.yaml", "schema/policy.schema.json",
                "schema/universe.schema.json")


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "ud").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_writes_plugins_and_the_default_yaml_next_to_the_config(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["init-userdir", "--userdir", "ud"]) == 0
    out = capsys.readouterr().out
    for name in PLUGINS:
        assert f"created  {work / 'ud' / name}\n" in out
        assert (work / "ud" / name).read_bytes() == (REPO / "user_data" / name).read_bytes()
    for name in CONFIG_FILES:  # no ud/config.json: freqtrade reads ./config.json
        assert f"created  {work / name}\n" in out
        assert (work / name).read_bytes() == (REPO / "config" / name).read_bytes()
    assert f"policy.yaml and universe.yaml are in {work}:" in out


def test_config_dir_follows_freqtrades_default_config(work: Path) -> None:
    (work / "ud" / "config.json").write_text("{}")
    assert cli_main(["init-userdir", "--userdir", "ud"]) == 0
    assert (work / "ud" / "policy.yaml").is_file() and not (work / "policy.yaml").exists()


def test_explicit_config_dir_is_created(work: Path) -> None:
    assert cli_main(["init-userdir", "--userdir", "ud", "--config-dir", "etc/bot"]) == 0
    assert sorted(p.name for p in (work / "etc" / "bot").iterdir()) == [
        "policy.yaml", "schema", "universe.yaml"]


def test_existing_files_are_kept_and_said(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "policy.yaml").write_text("# mine\n")
    (work / "ud" / "strategies").mkdir()
    (work / "ud" / "strategies" / "Trader247Strategy.py").write_text("# mine\n")
    assert cli_main(["init-userdir", "--userdir", "ud"]) == 0
    out = capsys.readouterr().out
    for kept in (work / "policy.yaml", work / "ud" / "strategies" / "Trader247Strategy.py"):
        assert f"kept     {kept} (exists; not overwritten)\n" in out
        assert kept.read_text() == "# mine\n"
    assert f"created  {work / 'universe.yaml'}\n" in out
    # A second run writes nothing.
    assert cli_main(["init-userdir", "--userdir", "ud"]) == 0
    assert "created" not in capsys.readouterr().out


@pytest.mark.parametrize(("make", "what"), [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_text(""), "is not a directory"),
])
def test_a_missing_userdir_is_refused(work: Path, capsys: pytest.CaptureFixture[str],
                                      make: object, what: str) -> None:
    make(work / "nope")  # type: ignore[operator]
    assert cli_main(["init-userdir", "--userdir", "nope"]) == 2
    assert capsys.readouterr().out == (
        f"error: user directory {work / 'nope'} {what}: create it with "
        "`freqtrade create-userdir --userdir nope`\n")
    assert not (work / "policy.yaml").exists()


def test_an_unwritable_place_is_named_and_the_rest_still_written(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (work / "ud" / "pairlists").write_text("")  # a file where the folder should be
    assert cli_main(["init-userdir", "--userdir", "ud"]) == 2
    out = capsys.readouterr().out
    target = work / "ud" / "pairlists" / "TieredLiquidityPairList.py"
    assert (f"error: 1 file(s) not written: cannot write {target}: {work / 'ud' / 'pairlists'} "
            "is not a directory") in out
    assert (work / "ud" / "protections" / "ExposureCap.py").is_file()
    assert (work / "policy.yaml").is_file()


def test_a_write_error_is_named(work: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    # As root a read-only folder is still writable: the OS error is injected instead.
    def refuse(*args: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(shutil, "copyfileobj", refuse)
    assert cli_main(["init-userdir", "--userdir", "ud"]) == 2
    out = capsys.readouterr().out
    assert f"FAILED   {work / 'policy.yaml'}: Permission denied\n" in out
    assert "error: 7 file(s) not written" in out


def test_monitoring_files_on_request(work: Path) -> None:
    assert cli_main(["init-userdir", "--userdir", "ud", "--monitoring-dir", "mon"]) == 0
    written = sorted(p.relative_to(work / "mon").as_posix()
                     for p in (work / "mon").rglob("*") if p.is_file())
    assert written == [
        "grafana/dashboards/trader247.json", "grafana/provisioning/dashboards/dashboards.yml",
        "grafana/provisioning/datasources/prometheus.yml", "prometheus/alerts.yml",
        "prometheus/prometheus-fleet.yml", "prometheus/prometheus.yml"]


def test_a_package_without_its_data_says_so(work: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(userdir_cli, "data_root", lambda: work / "nothing")
    assert cli_main(["init-userdir", "--userdir", "ud"]) == 2
    assert "error: the trader247 package lacks " in capsys.readouterr().out
    assert not (work / "ud" / "pairlists").exists()


def test_help_names_the_new_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    top = capsys.readouterr().out
    assert "--config-dir" in top  # the subcommand list says where the YAML files go
    with pytest.raises(SystemExit):
        cli_main(["init-userdir", "--help"])
    sub = capsys.readouterr().out
    for option in ("--userdir", "--config-dir", "--monitoring-dir"):
        assert option in sub
