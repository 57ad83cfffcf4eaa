"""Shared fixtures: the repository root, the bundled data set, the shipped policy and a
PostgreSQL server; the set-up that lets workers run in parallel (``tests/parallel.py``)."""

from __future__ import annotations

import itertools
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import parallel
from tests.pg import SHARED_ENV, PostgresCluster, PostgresUnavailable
from tests.shipped import shipped_cap_policy, shipped_universe_rules
from trader247.core.exposure import CapPolicy
from trader247.core.universe import UniverseRules

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "user_data" / "data" / "coinbase"
parallel.prepare_environment()  # now: other conftests copy os.environ for children on import


def pytest_configure(config: pytest.Config) -> None:
    parallel.configure_session(REPO)
    # A suite started in the background (`make test &`, nohup) inherits SIGINT ignored, and so
    # would every freqtrade it starts: the Ctrl-C tests would wait for ever for an interrupt
    # that never comes. They test an operator's Ctrl-C, so SIGINT gets its usual handler here
    # (and the default in child processes); test_an_ignored_signal_stays_ignored covers nohup.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_unconfigure(config: pytest.Config) -> None:
    parallel.finish_session()


@pytest.hookimpl(trylast=True)  # the final node ids, before the worker reports them
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist: tests that start processes (marker ``e2e``) go first, then the rest, so the
    long ones start while every worker is free and the quick unit tests fill the gaps at the
    end; the groups (``parallel.group_of``) go to the controller's scheduler."""
    if not parallel.is_worker():
        return
    items.sort(key=lambda item: item.get_closest_marker("e2e") is None)
    parallel.record_groups(items)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: unknown (and unused) without xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    return parallel.make_scheduler(config, log) if config.getvalue("dist") == "loadgroup" else None


@pytest.fixture(autouse=True)
def _freqtrade_bot_class_restored() -> Iterator[None]:
    """Our class-level patches of ``FreqtradeBot`` (``execute_entry_gate``, ``iteration_timing``)
    installed by one test (a mixin or exporter start) are undone for the next test in the same
    worker: a test of a patch must find freqtrade's own methods."""
    import sys

    module = sys.modules.get("freqtrade.freqtradebot")
    saved = {} if module is None else {name: getattr(module.FreqtradeBot, name)
                                       for name in ("process", "execute_entry")}
    yield
    if module is not None:
        for name, method in saved.items():
            setattr(module.FreqtradeBot, name, method)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not any(DATA_DIR.glob("*-1h.feather")):
        pytest.fail(f"no bundled candles in {DATA_DIR}: run `make data` (make test does)")
    return DATA_DIR


@pytest.fixture
def cap_policy() -> CapPolicy:
    """The cap policy of config/policy.yaml (see ``tests.shipped`` for variations)."""
    return shipped_cap_policy()


@pytest.fixture
def universe_rules() -> UniverseRules:
    """The universe rules of config/policy.yaml + config/universe.yaml."""
    return shipped_universe_rules()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One throw-away cluster per test run (tests/pg.py); a test that needs it fails, with
    the way to install PostgreSQL, when the server binaries are missing. With
    ``TRADER247_TEST_PG_CLUSTER`` set, the sessions share that cluster and leave it running;
    under xdist the workers share one the controller stops (``parallel.run_cluster``)."""
    shared = os.environ.get(SHARED_ENV)
    if shared or parallel.is_worker():
        try:
            borrowed = (PostgresCluster.from_env(shared) if shared
                        else parallel.run_cluster())
        except PostgresUnavailable as exc:
            pytest.fail(str(exc), pytrace=False)
        yield borrowed
        return
    try:
        cluster = PostgresCluster.start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


_database_numbers = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster, request: pytest.FixtureRequest
                 ) -> Iterator[str]:
    """A new, empty database for this test: ``postgresql+psycopg://...``."""
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    # The process id: sessions sharing one cluster (forked from one parent, same counter) differ.
    database = f"t{os.getpid()}_{next(_database_numbers)}_{name}"
    yield postgres_cluster.create_database(database)
    _release_freqtrade_engine(database)
    postgres_cluster.drop_database(database)


def _release_freqtrade_engine(database: str) -> None:
    """Close freqtrade's connections to ``database`` before it is dropped. Left to the garbage
    collector, a pooled connection the drop terminated is rolled back whenever a collection
    runs, which once happened inside ``ast.parse`` of another test and made CPython 3.11 raise
    ``SystemError: AST constructor recursion depth mismatch``."""
    from freqtrade.persistence import Trade

    session = getattr(Trade, "session", None)
    if session is None:
        return
    engine = session.get_bind()
    if engine.url.database == database:
        session.remove()
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """freqtrade's ``--db-url`` for each supported database (a fresh one per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bot.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))
