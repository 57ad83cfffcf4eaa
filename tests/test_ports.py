"""``free_port`` with ``TRADER247_PORT_RANGE``: ports in turn, shared by processes, never a
port in use (what keeps parallel test workers from starting two servers on one port)."""

from __future__ import annotations

import multiprocessing
import socket
import tempfile
from pathlib import Path

import pytest

from trader247.cli.processes import PORT_RANGE_ENV, free_port

LOW, HIGH = 15_000, 15_009  # far from the test sessions' range (tests/conftest.py)


@pytest.fixture
def port_range(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The turn file lives in the temp directory: this test's own, not the session's.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(PORT_RANGE_ENV, f"{LOW}-{HIGH}")


@pytest.mark.usefixtures("port_range")
def test_ports_come_in_turn_and_wrap_at_the_end_of_the_range() -> None:
    ports = [free_port() for _ in range(12)]
    assert ports[:10] == list(range(LOW, HIGH + 1))
    assert ports[10:] == [LOW, LOW + 1]


@pytest.mark.usefixtures("port_range")
def test_a_port_in_use_is_skipped() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", LOW + 1))
        held.listen()
        assert [free_port(), free_port()] == [LOW, LOW + 2]


def _pick(count: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put([free_port() for _ in range(count)])


@pytest.mark.usefixtures("port_range")
def test_processes_sharing_the_range_never_get_the_same_port(tmp_path: Path) -> None:
    # Forked children inherit the environment and the temp directory; 2 x 5 picks fit one lap.
    queue: multiprocessing.Queue = multiprocessing.get_context("fork").Queue()  # type: ignore[type-arg]
    children = [multiprocessing.get_context("fork").Process(target=_pick, args=(5, queue))
                for _ in range(2)]
    for child in children:
        child.start()
    picked = [port for _ in children for port in queue.get(timeout=60)]
    for child in children:
        child.join(timeout=60)
    assert sorted(picked) == list(range(LOW, HIGH + 1))


@pytest.mark.parametrize("value", ["", "20000", "20000-", "a-b", "20000-19999", "80-90",
                                   "20000-70000"])
def test_a_bad_range_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch,
                                                    value: str) -> None:
    monkeypatch.setenv(PORT_RANGE_ENV, value)
    if value == "":
        assert 0 < free_port() < 65536  # empty: unset, the kernel's choice
        return
    with pytest.raises(ValueError, match=PORT_RANGE_ENV):
        free_port()
