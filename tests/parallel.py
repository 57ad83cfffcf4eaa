"""What parallel test workers share, and what each keeps to itself (``make test`` runs the suite
with pytest-xdist; tests/README.md has the rules for new tests).

- Ports: every session sets ``TRADER247_PORT_RANGE`` (``free_port``: ports in turn from a range
  below the kernel's ephemeral ports, the turn shared by every process on the machine), so two
  workers never start servers on one port. Children inherit it through the environment.
- PostgreSQL: one cluster for the whole run. Under xdist the first worker that needs it starts it
  (a lock in the run's directory), the others borrow it, the controller stops it at the end;
  without xdist the session starts and stops its own, as before. Databases are per test.
- The run's directory (``TRADER247_TEST_SESSION_DIR``): made by the controller (or the serial
  session) before any worker starts, removed at the end; workers coordinate there.
- freqtrade's user_data subfolders exist before any worker starts: two freqtrade processes
  starting at once in a fresh clone would both try to create them, and one would fail.
- Fixtures wider than a test: a session-scoped one is built once per worker; the tests of a
  module that share a module- or class-scoped fixture are kept on one worker, so that fixture is
  still built once (``GroupScheduling``, also for explicit ``xdist_group`` marks).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.pg import PostgresCluster
from trader247.cli.processes import PORT_RANGE_ENV

if TYPE_CHECKING:
    from xdist.scheduler import LoadScopeScheduling

SESSION_DIR_ENV = "TRADER247_TEST_SESSION_DIR"
PORTS_FROM = 20_000  # up to the kernel's first ephemeral port (32768 by default)
MIN_PORTS = 2_000
CLUSTER_FILE = "postgres.cluster"
SHARED_SCOPES = frozenset({"package", "module", "class"})


def is_worker() -> bool:
    """A pytest-xdist worker (xdist sets the variable in each worker)."""
    return "PYTEST_XDIST_WORKER" in os.environ


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (``flock`` on ``path``), released on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def shares_a_fixture(item: pytest.Item) -> bool:
    """The test uses a fixture that outlives it but not the worker (module, class, package)."""
    info = getattr(item, "_fixtureinfo", None)  # pytest's own record of the test's fixtures
    if info is None:
        return False
    return any(definitions and definitions[-1].scope in SHARED_SCOPES
               for definitions in info.name2fixturedefs.values())


def group_of(item: pytest.Item) -> str | None:
    """The worker a test must share with others: its ``xdist_group`` mark(s), else its module
    when it uses a fixture wider than the test, else none."""
    marks = item.iter_markers("xdist_group")
    named = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in marks}
    if named:
        return "_".join(sorted(named))
    return item.nodeid.split("::")[0] if shares_a_fixture(item) else None


def record_groups(items: Sequence[pytest.Item]) -> None:
    """Worker side, at the end of collection: node id -> group, for the controller's scheduler
    (every worker collects the same tests; each writes its own file)."""
    groups = {item.nodeid: group for item in items if (group := group_of(item)) is not None}
    path = Path(os.environ[SESSION_DIR_ENV]) / f"groups-{os.environ['PYTEST_XDIST_WORKER']}.json"
    path.write_text(json.dumps(groups))


def make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling:
    """``--dist loadgroup`` that groups under pytest 9.2: pytest-xdist 3.8 marks a group by
    rewriting node ids, which pytest 9.2's structured ids ignore (pytest-xdist issue 1386), so
    every test was scheduled alone. The groups come from the workers' files instead; the rest
    is xdist's own scope scheduling (a group runs whole on one worker; bigger groups first)."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:  # first asked once every worker has collected
                self.groups = {}
                root = Path(os.environ[SESSION_DIR_ENV])
                for path in sorted(root.glob("groups-*.json")):
                    self.groups.update(json.loads(path.read_text()))
            return self.groups.get(nodeid, nodeid)

    return GroupScheduling(config, log)


def port_range_for_tests() -> str | None:
    """``low-high`` below the kernel's ephemeral ports (which bind(0) and outgoing connections
    use), or None when that leaves too few ports (free_port then keeps the kernel's choice)."""
    try:
        first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = 32_768
    high = min(first_ephemeral - 1, 65_535)
    return f"{PORTS_FROM}-{high}" if high - PORTS_FROM >= MIN_PORTS else None


CHILD_COLUMNS = 10_000


def prepare_environment() -> None:
    """The environment every child process of the tests inherits. Called when the root
    conftest is imported, before any other conftest or test module copies ``os.environ`` for
    its children (``tests.e2e.support.CHILD_ENV``)."""
    if not os.environ.get(PORT_RANGE_ENV):
        span = port_range_for_tests()
        if span:
            os.environ[PORT_RANGE_ENV] = span
    if is_worker():
        # freqtrade's rich log handler wraps each line at the terminal's width: COLUMNS, else
        # 200 when its output is a file (GNU readline, imported in xdist workers, exports an
        # 80x24 "terminal"). A wrapped line breaks the log patterns of the e2e tests (a line
        # naming a file under a worker's temporary folder passes 200 characters), so the
        # children get a width no log line reaches. Only in workers: the controller's own
        # terminal output reads COLUMNS too.
        os.environ["COLUMNS"] = str(CHILD_COLUMNS)
        os.environ.pop("LINES", None)


def configure_session(repo: Path) -> None:
    """Before the first test; under xdist in the controller, before any worker starts."""
    if is_worker():
        return
    os.environ[SESSION_DIR_ENV] = tempfile.mkdtemp(prefix="trader247-tests-")
    from freqtrade.configuration.directory_operations import create_userdata_dir

    create_userdata_dir(str(repo / "user_data"))


def finish_session() -> None:
    """After the last test (under xdist: in the controller, after every worker has ended)."""
    if is_worker():
        return
    root = os.environ.pop(SESSION_DIR_ENV, None)
    if not root:
        return
    described = Path(root) / CLUSTER_FILE
    if described.exists():
        PostgresCluster.from_env(described.read_text()).stop()
    shutil.rmtree(root, ignore_errors=True)


def run_cluster() -> PostgresCluster:
    """The run's PostgreSQL cluster for an xdist worker: started by the first worker that asks,
    borrowed by the others; the controller stops it (``finish_session``)."""
    root = Path(os.environ[SESSION_DIR_ENV])
    with locked(root / "postgres.lock"):
        described = root / CLUSTER_FILE
        if described.exists():
            return PostgresCluster.from_env(described.read_text())
        cluster = PostgresCluster.start()
        described.write_text(cluster.to_env())
        return cluster
