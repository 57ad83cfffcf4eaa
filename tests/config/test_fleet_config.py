"""The ``fleet:`` section: off by default, the core policy from the model, PostgreSQL only."""

from __future__ import annotations

import pytest

from tests.shipped import shipped
from trader247.configfiles import ConfigFileError, parse_policy
from trader247.core.config import FleetConfig, is_postgresql_url
from trader247.core.fleet import FleetPolicy
from trader247.preflight import config_checks


def test_shipped_fleet_is_off_and_builds_the_core_policy() -> None:
    fleet = shipped().policy.fleet
    assert fleet == FleetConfig()  # the YAML repeats the model's defaults
    assert fleet.enabled is False and fleet.db_url is None
    assert fleet.to_core() == FleetPolicy(name=fleet.name, lease_seconds=fleet.lease_seconds)


@pytest.mark.parametrize("url, ok", [
    ("postgresql+psycopg://u:p@127.0.0.1/fleet", True),
    ("postgresql://u@h/db", True),
    ("postgres://u@h/db", True),
    ("sqlite:///fleet.sqlite", False),
    ("mysql+pymysql://u@h/db", False),
    ("postgresqlx://u@h/db", False),
])
def test_postgresql_urls(url: str, ok: bool) -> None:
    assert is_postgresql_url(url) is ok


def test_enabled_with_a_sqlite_url_names_file_and_key() -> None:
    text = "fleet:\n  enabled: true\n  db_url: sqlite:///fleet.sqlite\n"
    with pytest.raises(ConfigFileError) as err:
        parse_policy(text, file="policy.yaml")
    message = str(err.value)
    assert "policy.yaml:3" in message and "fleet.db_url" in message
    assert "'sqlite'" in message


def test_disabled_fleet_may_keep_any_url() -> None:
    parse_policy("fleet:\n  enabled: false\n  db_url: sqlite:///x\n", file="policy.yaml")


@pytest.mark.parametrize("body, key", [
    ("fleet:\n  lease_seconds: 0\n", "fleet.lease_seconds"),
    ("fleet:\n  lease_seconds: 3600.01\n", "fleet.lease_seconds"),
    ("fleet:\n  name: 'a|b'\n", "fleet.name"),
    ("fleet:\n  name: ''\n", "fleet.name"),
    ("fleet:\n  enable: true\n", "fleet.enable"),
])
def test_bad_values_are_named(body: str, key: str) -> None:
    with pytest.raises(ConfigFileError, match=key.replace(".", r"\.")):
        parse_policy(body, file="policy.yaml")


def test_lease_at_its_bounds_is_accepted() -> None:
    assert parse_policy("fleet:\n  lease_seconds: 3600\n").fleet.lease_seconds == 3600
    assert parse_policy("fleet:\n  lease_seconds: 0.001\n").fleet.to_core().lease_seconds == 0.001


def _checks(db_url: str, fleet_url: str | None, bot_name: str = "bot-a",
            runmode: str | None = None) -> list[str]:
    policy = parse_policy("fleet:\n  enabled: true\n"
                          + (f"  db_url: {fleet_url}\n" if fleet_url else ""))
    config = {"db_url": db_url, "bot_name": bot_name, "pairlists": [],
              **({"runmode": runmode} if runmode else {})}
    return [p.format() for p in config_checks(config, policy, file="config.json")
            if p.severity == "error"]


def test_null_fleet_url_needs_a_postgresql_freqtrade_db_url() -> None:
    [error] = _checks("sqlite:///tradesv3.dryrun.sqlite", None)
    assert "config.json" in error and "db_url" in error and "'sqlite'" in error
    assert _checks("postgresql+psycopg://u@h/db", None) == []
    # A fleet URL of its own: freqtrade's database may stay SQLite.
    assert _checks("sqlite:///t.sqlite", "postgresql+psycopg://u@h/fleet") == []
    # Backtests run without a fleet; `trader247 validate` loads with runmode "other".
    assert _checks("sqlite:///t.sqlite", None, runmode="backtest") == []
    assert len(_checks("sqlite:///t.sqlite", None, runmode="other")) == 1
    # No db_url in the files (validate; --db-url may still name PostgreSQL): a warning.
    assert _checks("", None) == []
    policy = parse_policy("fleet:\n  enabled: true\n")
    [warning] = [p for p in config_checks({"bot_name": "a", "pairlists": []}, policy, file="c")
                 if p.path == ("db_url",)]
    assert warning.severity == "warning" and "unless --db-url names PostgreSQL" in warning.message


def test_default_bot_name_is_a_warning() -> None:
    policy = parse_policy("fleet:\n  enabled: true\n  db_url: postgresql://u@h/db\n")
    found = config_checks({"db_url": "sqlite://", "pairlists": []}, policy, file="c.json")
    assert [p.path for p in found if p.severity == "warning"][-1] == ("bot_name",)
