"""policy.yaml and universe.yaml are parsed once per bot start and shared by its plugins.

A backtesting-like start in one process, through freqtrade's own resolvers and in freqtrade's
order (``Backtesting.__init__``: strategy, pairlist, then ``ft_bot_start`` and the protections),
on one config dict, counting the YAML parses of ``trader247.configfiles``.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from freqtrade.enums import RunMode
from freqtrade.plugins.protectionmanager import ProtectionManager
from freqtrade.resolvers.pairlist_resolver import PairListResolver
from freqtrade.resolvers.strategy_resolver import StrategyResolver

from trader247 import configfiles
from trader247.adapters.settings import load_settings
from trader247.core.plugin_names import PAIRLIST, PROTECTION, STRATEGY
from trader247.preflight import run_preflight

REPO = Path(__file__).resolve().parents[2]


class Markets:
    """Just enough of an exchange for the pairlist's constructor."""

    markets = {"BTC/USD": {"symbol": "BTC/USD", "base": "BTC", "quote": "USD", "active": True,
                           "spot": True}}


class DataProvider:
    """No market listed: the strategy needs no regime data at start."""

    def market(self, pair: str) -> None:
        return None


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counted: Counter[str] = Counter()
    read = configfiles.read_yaml

    def counting(file: str, data: bytes | str) -> Any:
        counted[os.path.basename(file)] += 1
        return read(file, data)

    monkeypatch.setattr(configfiles, "read_yaml", counting)
    return counted


def bot_config(config_dir: Path) -> dict[str, Any]:
    return {"stake_currency": "USD", "dry_run": True, "runmode": RunMode.BACKTEST,
            "timeframe": "1h", "strategy": STRATEGY, "user_data_dir": REPO / "user_data",
            "strategy_path": str(REPO / "user_data" / "strategies"),
            "config_files": [str(config_dir / "config.json")],
            "pairlists": [{"method": PAIRLIST}], "enable_protections": True,
            "exchange": {"name": "coinbase"},
            "datadir": REPO / "user_data" / "data" / "coinbase"}


def start_bot(config: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``Backtesting.__init__`` does with our plugins, on one config dict."""
    strategy = StrategyResolver.load_strategy(config)
    PairListResolver.load_pairlist(PAIRLIST, exchange=Markets(), pairlistmanager=None,
                                   config=config, pairlistconfig={"method": PAIRLIST},
                                   pairlist_pos=0)
    strategy.dp = DataProvider()  # freqtrade sets it before ft_bot_start
    strategy.ft_bot_start()
    protections: list[dict[str, Any]] = strategy.protections
    ProtectionManager(config, protections)
    return protections


def test_one_bot_start_parses_each_file_once(parses: Counter[str]) -> None:
    protections = start_bot(bot_config(REPO / "config"))
    assert protections[0]["method"] == PROTECTION
    assert parses == {"policy.yaml": 1, "universe.yaml": 1}


def test_each_bot_reads_its_own_files(parses: Counter[str]) -> None:
    # Not a process-wide cache: a second bot (another config dict) in the same process, and a
    # copy of a bot's config (freqtrade's API evaluates pairlists on copies), read again.
    first = bot_config(REPO / "config")
    load_settings(first)
    load_settings(first)
    load_settings(copy.deepcopy(first))
    load_settings(bot_config(REPO / "config"))
    assert parses == {"policy.yaml": 3, "universe.yaml": 3}


def test_a_changed_file_is_read_again(parses: Counter[str], tmp_path: Path) -> None:
    for name in ("config.json", "policy.yaml", "universe.yaml"):
        shutil.copy(REPO / "config" / name, tmp_path / name)
    config = bot_config(tmp_path)
    before = load_settings(config)
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy.read_text().replace("max_total_at_risk_pct: 25.0",
                                                 "max_total_at_risk_pct: 20.0"))
    os.utime(policy, ns=(policy.stat().st_mtime_ns + 10**9,) * 2)  # a coarse clock's same tick
    after = load_settings(config)
    assert (before.cap_policy.max_total_at_risk_pct, after.cap_policy.max_total_at_risk_pct) == (
        25.0, 20.0)
    assert parses == {"policy.yaml": 2, "universe.yaml": 2}


def test_the_preflight_of_trader247_run_reads_each_file_once(parses: Counter[str]) -> None:
    # `trader247 run` checks the files before freqtrade starts (another config dict: freqtrade's
    # plugins then read them once more, the bot's own read).
    problems, config = run_preflight([str(REPO / "config" / "config.json")])
    assert config is not None and not [p for p in problems if p.severity == "error"]
    assert parses == {"policy.yaml": 1, "universe.yaml": 1}
