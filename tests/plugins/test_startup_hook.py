"""The start-up hook registers our plugins with an unmodified freqtrade (issue [A] item 2).

It registers names and folders only ([R] item 4): the release check is in
``tests/compat/test_release_range.py``, the patches in ``tests/patches/``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import trader247_hook as _startup

REPO = Path(__file__).resolve().parents[2]


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_pth_installs_exactly_one_finder_at_start() -> None:
    result = _python(
        "import sys; print(sum(getattr(f, 'trader247_hook', False) for f in sys.meta_path))"
    )
    assert result.stdout.strip() == "1", result.stderr


def test_start_without_freqtrade_imports_nothing_heavy() -> None:
    result = _python("import sys; print(sorted(m for m in sys.modules if m.startswith(('freqtrade', 'trader247'))))")
    assert result.stdout.strip() == "['trader247_hook']", result.stderr


def test_install_is_idempotent() -> None:
    before = sum(getattr(f, "trader247_hook", False) for f in sys.meta_path)
    _startup.install()
    _startup.install()
    assert sum(getattr(f, "trader247_hook", False) for f in sys.meta_path) == before == 1


def test_disable_env_turns_the_hook_off() -> None:
    result = _python(
        "import sys, freqtrade.constants as c; "
        "print(any(getattr(f, 'trader247_hook', False) for f in sys.meta_path), "
        "'TieredLiquidityPairList' in c.AVAILABLE_PAIRLISTS)",
        TRADER247_DISABLE_HOOK="1",
    )
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_pairlist_name_is_accepted_by_the_config_schema_once() -> None:
    from freqtrade.config_schema.config_schema import CONF_SCHEMA
    from freqtrade.constants import AVAILABLE_PAIRLISTS

    enum = CONF_SCHEMA["properties"]["pairlists"]["items"]["properties"]["method"]["enum"]
    assert enum.count("TieredLiquidityPairList") == 1
    assert AVAILABLE_PAIRLISTS.count("TieredLiquidityPairList") == 1
    _startup._register_pairlists(sys.modules["freqtrade.constants"])
    assert AVAILABLE_PAIRLISTS.count("TieredLiquidityPairList") == 1


@pytest.mark.parametrize(
    ("resolver_module", "resolver_name", "subdir", "plugin_file"),
    [
        ("freqtrade.resolvers.pairlist_resolver", "PairListResolver", "pairlists",
         "TieredLiquidityPairList.py"),
        ("freqtrade.resolvers.protection_resolver", "ProtectionResolver", "protections",
         "ExposureCap.py"),
    ],
)
def test_resolvers_search_user_subdir_then_packaged_copy(
    tmp_path: Path, resolver_module: str, resolver_name: str, subdir: str, plugin_file: str
) -> None:
    import importlib

    resolver = getattr(importlib.import_module(resolver_module), resolver_name)
    assert resolver.user_subdir == subdir

    # A user_data made by `freqtrade create-userdir` has neither folder: the packaged copy is used.
    bare = resolver.build_search_paths({"user_data_dir": tmp_path}, user_subdir=subdir)
    assert all(path.is_dir() for path in bare)
    assert any((path / plugin_file).is_file() for path in bare)

    # A user folder comes first, so a user's own copy overrides ours.
    (tmp_path / subdir).mkdir()
    with_user = resolver.build_search_paths({"user_data_dir": tmp_path}, user_subdir=subdir)
    assert with_user[0] == tmp_path / subdir


def test_search_paths_list_each_folder_once() -> None:
    from freqtrade.resolvers.pairlist_resolver import PairListResolver

    paths = PairListResolver.build_search_paths(
        {"user_data_dir": REPO / "user_data"}, user_subdir="pairlists"
    )
    resolved = [path.resolve() for path in paths]
    assert len(resolved) == len(set(resolved))


def test_the_hook_registers_names_and_folders_and_patches_nothing_else() -> None:
    assert set(_startup.WATCHED) == {
        "freqtrade", "freqtrade.constants", "freqtrade.resolvers.pairlist_resolver",
        "freqtrade.resolvers.protection_resolver", "freqtrade.resolvers.strategy_resolver"}
    # What the hook patched before [R]: untouched by a start that loads none of our plugins.
    result = _python(
        "import freqtrade.main as m, freqtrade.freqtradebot as b, freqtrade.exchange.exchange as e\n"
        "from freqtrade.exceptions import ConfigurationError\n"
        "print(m.ConfigurationError is ConfigurationError,\n"
        "      *(getattr(f, '__trader247_patch__', None) is None for f in (\n"
        "        b.FreqtradeBot.process, b.FreqtradeBot.execute_entry,\n"
        "        e.Exchange._load_async_markets)))"
    )
    assert result.stdout.split() == ["True"] * 4, result.stderr


@pytest.mark.parametrize(("version", "release"), [
    ("2026.9", "2026.9"), ("2026.9.1", "2026.9"), ("2026.10-dev-abc123", "2026.10"),
    ("docker-2026.6-dev-1a2b3c4d", "2026.6"), ("2026.06", "2026.6"), ("unknown", None),
    ("2026.123", None),
])
def test_release_of_a_freqtrade_version(version: str, release: str | None) -> None:
    assert _startup.release_of(version) == release
