"""Where our YAML files and freqtrade's user dir are looked for, as a pip user meets it:
``trader247 validate`` honours ``--userdir`` and the config's ``user_data_dir`` like freqtrade, a
missing file names its absolute path and the command that creates it (which then works), and the
packaged strategy stays out of ``list-strategies`` once the user dir has its own copy."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.packaging.readme import readme_config
from trader247.adapters.settings import Trader247ConfigError, load_settings
from trader247.cli import main as cli_main
from trader247.cli.launcher import _userdir_arg
from trader247.cli.validate import OK_LINE
from trader247_hook import packaged_plugin_dirs

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's folder: README's config.json and an empty user dir ``ud`` (no ./user_data)."""
    (tmp_path / "ud").mkdir()
    (tmp_path / "config.json").write_text(readme_config())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def init_command(out: str) -> list[str]:
    """The command quoted in the first missing-file message."""
    quoted = out.split("create it with `", 1)[1].split("`", 1)[0]
    return shlex.split(quoted)


def test_missing_yaml_names_the_path_and_the_command_that_creates_it(
    bot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["validate", "-c", "config.json", "--userdir", "ud"]) == 1
    out = capsys.readouterr().out
    command = f"trader247 init-userdir --userdir {bot / 'ud'} --config-dir {bot}"
    for name in ("policy.yaml", "universe.yaml"):
        assert (f"❌ {name}: file not found (looked for {bot / name}); create it with "
                f"`{command}` (writes the default policy.yaml and universe.yaml there, keeps "
                "existing files)\n") in out
    # The command, run from anywhere, makes the check pass.
    words = init_command(out)
    assert words[0] == "trader247"
    assert cli_main(words[1:]) == 0
    capsys.readouterr()
    assert cli_main(["validate", "-c", "config.json", "--userdir", "ud"]) == 0
    assert capsys.readouterr().out.strip().endswith(OK_LINE)


def test_validate_takes_the_userdir_as_freqtrade_does(
    bot: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["init-userdir", "--userdir", "ud"]) == 0
    capsys.readouterr()
    # No --userdir and no user_data_dir in the config: freqtrade's ./user_data, which is missing.
    assert cli_main(["validate", "-c", "config.json"]) == 1
    assert f"Directory `{bot / 'user_data'}` does not exist" in capsys.readouterr().out
    # --userdir (or --user-data-dir) wins over the config's user_data_dir ...
    (bot / "elsewhere.json").write_text(json.dumps({"user_data_dir": str(bot / "missing")}))
    for flag in ("--userdir", "--user-data-dir"):
        assert cli_main(["validate", "-c", "config.json", "-c", "elsewhere.json", flag, "ud"]) == 0
    # ... and the config's user_data_dir wins over ./user_data.
    (bot / "ud.json").write_text(json.dumps({"user_data_dir": "ud"}))
    assert cli_main(["validate", "-c", "config.json", "-c", "ud.json"]) == 0


@pytest.mark.parametrize("where", ["ud/config.json", "config.json"])
def test_validate_without_c_reads_freqtrades_default_config(
    bot: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    (bot / "config.json").rename(bot / "saved.json")
    (bot / where).write_text((bot / "saved.json").read_text())
    config_dir = (bot / where).parent
    assert cli_main(["validate", "--userdir", "ud"]) == 1
    assert f"file not found (looked for {config_dir / 'policy.yaml'})" in capsys.readouterr().out


def test_a_renamed_file_is_named_with_its_own_name(bot: Path) -> None:
    config: dict[str, Any] = json.loads(readme_config())
    config["pairlists"][0]["policy_file"] = "conf/risk.yaml"
    config["user_data_dir"] = bot / "ud"
    config["config_files"] = [str(bot / "config.json")]
    with pytest.raises(Trader247ConfigError) as info:
        load_settings(config)  # what the plugins run when freqtrade builds them
    message = str(info.value)
    assert (f"risk.yaml: file not found (looked for {bot / 'conf' / 'risk.yaml'}); create it "
            f"with `trader247 init-userdir --userdir {bot / 'ud'} --config-dir {bot / 'conf'}` "
            "(writes the default policy.yaml and universe.yaml there, keeps existing files, then "
            "copy its policy.yaml to risk.yaml)") in message
    assert f"universe.yaml: file not found (looked for {bot / 'universe.yaml'})" in message


def test_yaml_only_check_names_the_command_too(bot: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["validate", "--yaml", "p/policy.yaml", "p/universe.yaml"]) == 1
    out = capsys.readouterr().out
    assert (f"create it with `trader247 init-userdir --userdir {bot / 'user_data'} "
            f"--config-dir {bot / 'p'}`") in out


@pytest.mark.parametrize(("args", "userdir"), [
    (["-c", "config.json", "--userdir", "ud"], "ud"),
    (["--user-data-dir=ud2", "-c", "x.json"], "ud2"),
    (["-c", "config.json"], None),
])
def test_run_passes_freqtrades_userdir_to_the_preflight(args: list[str],
                                                        userdir: str | None) -> None:
    assert _userdir_arg(args) == userdir


# ---------------------------------------------------------------- packaged strategy fallback


def strategy_paths(userdir: Path, **config: Any) -> list[Path]:
    from freqtrade.resolvers.strategy_resolver import StrategyResolver

    return StrategyResolver.build_search_paths(  # type: ignore[no-any-return]
        {"user_data_dir": userdir, **config}, user_subdir="strategies")


def packaged_included(paths: list[Path]) -> bool:
    packaged = (packaged_plugin_dirs()[0] / "strategies").resolve()
    return packaged in {path.resolve() for path in paths}


@pytest.fixture
def userdir(tmp_path: Path) -> Path:
    (tmp_path / "strategies").mkdir()
    return tmp_path


@pytest.mark.parametrize(("files", "included"), [
    ({}, True),  # a bare create-userdir: the packaged strategy loads
    ({"Trader247Strategy.py": "class Trader247Strategy(IStrategy):\n"}, False),
    ({"mine.py": "import x\n\nclass Trader247Strategy(Base):\n"}, False),  # any file name
    ({"mine.py": "class Mine(Trader247Strategy):\n"}, True),  # a subclass is not a copy
    ({"mine.py": "# class Trader247Strategy\n"}, True),
])
def test_packaged_strategy_only_while_the_user_does_not_define_it(
    userdir: Path, files: dict[str, str], included: bool
) -> None:
    for name, text in files.items():
        (userdir / "strategies" / name).write_text(text)
    assert packaged_included(strategy_paths(userdir)) is included


def test_sub_folders_count_with_recursive_strategy_search(userdir: Path) -> None:
    (userdir / "strategies" / "sub").mkdir()
    (userdir / "strategies" / "sub" / "t.py").write_text("class Trader247Strategy:\n")
    assert packaged_included(strategy_paths(userdir)) is True
    assert packaged_included(strategy_paths(userdir, recursive_strategy_search=True)) is False


def test_a_strategy_path_counts(userdir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    extra = tmp_path_factory.mktemp("strategy_path")
    (extra / "Trader247Strategy.py").write_text("class Trader247Strategy:\n")
    assert packaged_included(strategy_paths(userdir, strategy_path=str(extra))) is False
