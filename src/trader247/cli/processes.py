"""Child-process plumbing shared by ``trader247 demo`` and the end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any


class StartupFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
