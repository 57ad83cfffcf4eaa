"""A throw-away PostgreSQL cluster for the tests: started by the test session, deleted after it.

The server binaries come from Debian's ``postgresql`` package (``make postgres`` installs it, as
``make promtool`` provides promtool). The cluster lives in a fresh temporary directory, listens
on a free port on 127.0.0.1 only (its socket in that directory), trusts local connections and
runs without fsync (nothing here survives the session; the tests kill bots, never the server).

``initdb`` refuses to run as root: as root every server command runs as the ``postgres`` system
user (``runuser``, else ``su``), which then owns the directory; as any other user it runs as
that user. Missing binaries are a test failure with the way to install them, never a skip.

Used through the fixtures in ``tests/conftest.py``: ``postgres_cluster`` (session),
``postgres_url`` (a new database per test) and ``db_url`` (parametrized over SQLite and
PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from trader247.cli.processes import free_port

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them with `make postgres` "
    "(Debian: `apt-get install -y --no-install-recommends postgresql`; the tests start their "
    "own throw-away cluster, the packaged service is not needed), or put a directory with "
    "initdb and pg_ctl on PATH."
)
SYSTEM_USER = "postgres"
SUPERUSER = "postgres"
# A cluster started by someone else for many test sessions (`make mutation` forks one session
# per mutant: without it each would initdb its own): "<bin_dir>|<root>|<port>".
SHARED_ENV = "TRADER247_TEST_PG_CLUSTER"


class PostgresUnavailable(RuntimeError):
    pass


def find_bin_dir() -> Path | None:
    """``initdb`` on PATH (its real directory, where ``postgres`` sits too), else the newest
    ``/usr/lib/postgresql/<version>/bin`` (Debian does not put initdb on PATH)."""
    found = shutil.which("initdb")
    if found:
        real = Path(found).resolve().parent
        if (real / "pg_ctl").exists() and (real / "postgres").exists():
            return real
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(re.sub(r"\D", "", p.parent.parent.name) or 0))
    return versions[-1].parent if versions else None


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", SYSTEM_USER, "--", *command]
    return ["su", SYSTEM_USER, "-s", "/bin/sh", "-c", shlex.join(command)]


@dataclass
class PostgresCluster:
    bin_dir: Path
    root: Path
    port: int = 0
    databases: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> PostgresCluster:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable(INSTALL_HINT)
        root = Path(tempfile.mkdtemp(prefix="trader247-pg-"))
        cluster = cls(bin_dir, root)
        try:
            cluster._init()
            cluster._start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def to_env(self) -> str:
        return f"{self.bin_dir}|{self.root}|{self.port}"

    @classmethod
    def from_env(cls, value: str) -> PostgresCluster:
        """The cluster ``to_env`` described; its owner stops it, not the test session."""
        try:
            bin_dir, root, port = value.split("|")
            return cls(Path(bin_dir), Path(root), int(port))
        except ValueError:
            raise PostgresUnavailable(
                f"{SHARED_ENV}={value!r}: expected '<bin_dir>|<root>|<port>'") from None

    def _run(self, *command: str, timeout: float = 120.0) -> None:
        done = subprocess.run(_as_server_user([str(self.bin_dir / command[0]), *command[1:]]),
                              cwd=self.root, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"{command[0]} failed ({done.returncode}): {done.stdout[-1500:]}"
                f"{done.stderr[-1500:]}")

    def _init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, SYSTEM_USER, SYSTEM_USER)
        self._run("initdb", "-D", str(self.root / "data"), "-U", SUPERUSER, "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")

    def _start(self) -> None:
        self.port = free_port()
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def url(self, database: str) -> str:
        """SQLAlchemy URL with psycopg 3, as freqtrade's ``--db-url`` takes it."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                             dbname="postgres", autocommit=True) as connection:
            connection.execute(statement)  # type: ignore[arg-type]  # our own literal names

    def create_database(self, name: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name {name!r}: lower-case letters, digits, _ only")
        self._admin(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable):  # already gone: delete all the same
                self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w",
                          "stop", timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
