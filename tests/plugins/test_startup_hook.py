"""The start-up hook registers our plugins with an unmodified freqtrade (issue [A] item 2)."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import trader247_hook as _startup
from trader247 import TESTED_FREQTRADE_VERSION

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
    _startup._patch_constants(sys.modules["freqtrade.constants"])
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


@pytest.mark.parametrize(
    ("found", "allow", "raises"),
    [
        (TESTED_FREQTRADE_VERSION, "", False),
        ("2025.1", "", True),
        ("2025.1", "1", False),
        (f"{TESTED_FREQTRADE_VERSION}-dev-abc123", "", False),
    ],
)
def test_untested_freqtrade_version_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, found: str, allow: str, raises: bool
) -> None:
    monkeypatch.setitem(sys.modules, "freqtrade", types.SimpleNamespace(__version__=found))
    monkeypatch.setenv("TRADER247_ALLOW_UNTESTED_FREQTRADE", allow)
    if raises:
        with pytest.raises(_startup.UntestedFreqtradeVersion, match=f"freqtrade {found}"):
            _startup._check_freqtrade_version()
    else:
        _startup._check_freqtrade_version()


def test_configuration_error_exits_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"pairlists": [{"method": "NoSuchPairList"}]}')
    result = subprocess.run(
        [str(Path(sys.executable).parent / "freqtrade"), "test-pairlist",
         "-c", str(REPO / "config" / "config.json"), "-c", str(bad)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "'NoSuchPairList' is not one of" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def original_cell(patched: Any) -> Any:
    """The closure cell holding freqtrade's original method, to stand in for it."""
    return next(c for c in patched.__closure__ or () if callable(c.cell_contents)
                and c.cell_contents.__name__ == patched.__name__)


@pytest.mark.parametrize(
    ("mode", "has_trade", "gated"),
    [("pos_adjust", True, True), ("initial", False, False), ("replace", True, False)],
)
def test_position_increases_pass_the_cap_gate_first(
    mode: str, has_trade: bool, gated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from freqtrade.freqtradebot import FreqtradeBot

    calls: list[tuple[str, float]] = []
    original: list[float] = []

    def refuse(pair: str, stake: float) -> float:
        calls.append((pair, stake))
        return 0.0

    patched = FreqtradeBot.execute_entry
    monkeypatch.setattr(original_cell(patched), "cell_contents",
                        lambda _self, _pair, stake, *_a, **_k: original.append(stake) or True)
    bot = types.SimpleNamespace(strategy=types.SimpleNamespace(
        _cap_gate_position_increase=refuse))
    result = patched(bot, "BTC/USD", 20.0, trade=object() if has_trade else None, mode=mode)
    assert calls == ([("BTC/USD", 20.0)] if gated else [])
    assert result is (not gated)
    assert original == ([] if gated else [20.0])


def test_an_empty_markets_reload_keeps_the_loaded_markets(monkeypatch: pytest.MonkeyPatch) -> None:
    from freqtrade.exceptions import TemporaryError
    from freqtrade.exchange.exchange import Exchange

    patched = Exchange._load_async_markets
    monkeypatch.setattr(original_cell(patched), "cell_contents", lambda _self, reload=False: None)
    copied: list[object] = []
    sync_api = object()
    exchange = types.SimpleNamespace(
        _markets={"BTC/USD": {}, "ETH/USD": {}}, _api=sync_api,
        _api_async=types.SimpleNamespace(markets={}, set_markets_from_exchange=copied.append))
    with pytest.raises(TemporaryError, match="no markets: keeping the 2 loaded ones"):
        patched(exchange, reload=True)
    assert copied == [sync_api]

    exchange._api_async.markets = {"BTC/USD": {}}  # a reload with markets passes
    patched(exchange, reload=True)
    exchange._markets, exchange._api_async.markets = {}, {}  # so does the very first load
    patched(exchange, reload=True)
    assert copied == [sync_api]
