"""Child-process plumbing shared by ``trader247 demo`` and the end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any


class StartupFailed(RuntimeError):
    pass


PORT_RANGE_ENV = "TRADER247_PORT_RANGE"


def free_port() -> int:
    """A free loopback port for a server about to start: the kernel's choice, or with
    ``TRADER247_PORT_RANGE=low-high`` set, the next free port of that range in turn.

    A kernel-chosen port is free again as soon as it is returned, and another process may be
    handed it before our server binds it (freqtrade binds its API port seconds after start).
    The turn is kept in a locked file under the temp directory that every process using the
    same range shares, so parallel test workers and the processes they start never pick one
    port twice within a lap of the range. ``tests/conftest.py`` sets a range below the
    kernel's ephemeral ports for every test session."""
    span = os.environ.get(PORT_RANGE_ENV)
    if span:
        return _port_in_turn(*_parse_range(span))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parse_range(span: str) -> tuple[int, int]:
    try:
        low, high = (int(part) for part in span.split("-"))
    except ValueError:
        raise ValueError(f"{PORT_RANGE_ENV}={span!r}: expected 'low-high', e.g. 20000-32767"
                         ) from None
    if not 1024 <= low < high <= 65535:
        raise ValueError(f"{PORT_RANGE_ENV}={span!r}: expected 1024 <= low < high <= 65535")
    return low, high


def _port_in_turn(low: int, high: int) -> int:
    import fcntl  # POSIX, as start_new_session and the signals here

    size = high - low + 1
    turn = Path(tempfile.gettempdir()) / f"trader247-port-turn-{os.getuid()}-{low}-{high}"
    with turn.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        handle.seek(0)
        last = handle.read().strip()
        start = int(last) - low + 1 if last.isdigit() else 0
        for step in range(size):
            port = low + (start + step) % size
            if not port_in_use("127.0.0.1", port):
                handle.seek(0)
                handle.truncate()
                handle.write(str(port))
                return port
    raise StartupFailed(f"{PORT_RANGE_ENV}={low}-{high}: no free port left in the range")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def start_replay(
    data_dir: Path,
    port: int,
    *,
    extra_args: Sequence[str] = (),
    log: IO[str] | None = None,
    timeout: float = 60.0,
) -> subprocess.Popen[str]:
    """Start the replay exchange and wait for its readiness line; echo its output to ``log``."""
    command = [sys.executable, "-m", "trader247.replay", "--data-dir", str(data_dir),
               "--host", "127.0.0.1", "--port", str(port), *extra_args]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if log is not None:
                log.write(line)
                log.flush()
            if "listening on" in line:
                _pump(process.stdout, log)
                return process
    except BaseException:  # an interrupt while waiting: the caller has no handle to stop it
        stop(process, grace=2.0)
        raise
    stop(process, grace=2.0)
    raise StartupFailed("replay exchange did not start:\n" + "".join(lines[-10:]).rstrip())


def _pump(stream: IO[str], log: IO[str] | None) -> None:
    """Keep draining a child's pipe so it never blocks on a full buffer."""

    def drain() -> None:
        for line in stream:
            if log is not None:
                log.write(line)
                log.flush()

    threading.Thread(target=drain, daemon=True).start()


def stop(process: subprocess.Popen[Any], *, grace: float = 10.0, sig: int = signal.SIGTERM) -> int:
    """Signal a child we started, wait ``grace`` seconds, then kill it; returns its exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return int(process.returncode)
