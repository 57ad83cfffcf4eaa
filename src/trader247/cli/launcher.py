"""``trader247 run [freqtrade trade args]`` and ``trader247 stop`` (seed fixes 5 and 9).

``run``: pre-flight validation, then an atomic PID file (``O_CREAT | O_EXCL``), then freqtrade's
own ``main(["trade", ...])`` in this very process, so the PID in the file is the bot's: a
``kill -9`` of the bot can never leave an orphaned bot behind a dead supervisor. The PID file is
removed on every exit path Python sees (normal exit, SIGTERM / SIGINT through freqtrade's own
clean shutdown, an exception). A PID file left by a ``kill -9`` is detected on the next start
(its process is gone, or is no longer a trader247/freqtrade process), reported and replaced; a
live one refuses a second instance.

Exit codes of ``run`` (for a process manager): 0 after a requested stop (SIGTERM / SIGINT;
freqtrade's own code there is 130); 2 on a configuration error, including freqtrade's
``ConfigurationError``, which freqtrade's ``main()`` logs and then exits **0** with (plain
``freqtrade trade`` keeps that); 1 on a failed pre-flight or a second instance; otherwise
freqtrade's code.

``stop``: optionally liquidates first (``shutdown.liquidate_on_stop`` or ``--liquidate``:
freqtrade's REST API ``/forceexit`` per open trade at market, retried until
``liquidate_timeout_seconds``, reporting what could not be closed and why), then SIGTERM, waits
``stop_grace_seconds`` (default 5), then SIGKILL; the PID file is always removed.

After freqtrade's clean shutdown has returned, the process flushes its logs and exits at once
(``exit_after_shutdown``: the interpreter's teardown alone outlasted the stop grace on a loaded
host); everything worth keeping is already committed then. Should the flush hang (a thread that
holds a logging lock), ``EXIT_WATCHDOG_SECONDS`` later the threads' stacks are written to the
log and the process exits with the code it would have had (once in CI a stop with liquidation
was SIGKILLed 5 s after a complete shutdown).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import faulthandler
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

from trader247.core.symbols import asset_of
from trader247.interrupts import raise_interrupt

DEFAULT_PID_FILE = Path("user_data/trader247.pid")
EXIT_WATCHDOG_SECONDS = 2.0


class AlreadyRunning(RuntimeError):
    pass


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; it only waits for its parent to reap it.
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return status.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_our_process(pid: int) -> bool:
    """Guards against PID reuse: a recycled PID belonging to another program is stale too."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return _process_alive(pid)
    return "trader247" in cmdline or "freqtrade" in cmdline


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def acquire_pid_file(pid_file: Path, pid: int) -> str | None:
    """Create the PID file atomically; returns a note when a stale file was replaced."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    note = None
    for _ in range(2):
        try:
            fd = os.open(pid_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            old = read_pid(pid_file)
            if old is not None and old != pid and _process_alive(old) and _is_our_process(old):
                raise AlreadyRunning(
                    f"247trader is already running (pid {old}, PID file {pid_file}); "
                    "stop it with `trader247 stop`") from None
            note = (f"stale PID file {pid_file} (pid {old} is not running): replaced"
                    if old is not None else f"unreadable PID file {pid_file}: replaced")
            with contextlib.suppress(FileNotFoundError):
                pid_file.unlink()
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{pid}\n")
        return note
    raise AlreadyRunning(f"could not create {pid_file}: another launcher raced us")


def release_pid_file(pid_file: Path, pid: int) -> None:
    if read_pid(pid_file) == pid:
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()


def _config_args(freqtrade_args: list[str]) -> list[str]:
    configs = [freqtrade_args[i + 1] for i, arg in enumerate(freqtrade_args[:-1])
               if arg in ("-c", "--config")]
    configs += [arg.split("=", 1)[1] for arg in freqtrade_args if arg.startswith("--config=")]
    return configs or ["config/config.json"]


def _userdir_arg(freqtrade_args: list[str]) -> str | None:
    """freqtrade's ``--userdir`` / ``--user-data-dir`` value, for the pre-flight check."""
    found = None
    for i, arg in enumerate(freqtrade_args):
        name, _, value = arg.partition("=")
        if name in ("--userdir", "--user-data-dir"):
            found = value or (freqtrade_args[i + 1] if i + 1 < len(freqtrade_args) else None)
    return found


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pid-file", type=Path, default=DEFAULT_PID_FILE)
    parser.add_argument("--skip-validation", action="store_true",
                        help="start without the pre-flight check (not recommended)")
    parser.add_argument("freqtrade_args", nargs=argparse.REMAINDER,
                        help="passed to `freqtrade trade` (e.g. -c config/config.json)")
    parser.set_defaults(handler=run)


def arm_exit_watchdog(code: int, seconds: float = EXIT_WATCHDOG_SECONDS) -> None:
    """Exit with ``code`` if the interpreter is still alive ``seconds`` from now."""

    def fire() -> None:
        time.sleep(seconds)
        print(f"247trader: still running {seconds:g}s after the clean shutdown; exiting without "
              "waiting for these threads:", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    threading.Thread(target=fire, name="trader247-exit-watchdog", daemon=True).start()


def exit_after_shutdown(code: int) -> NoReturn:
    """End the process with ``code`` at once: freqtrade's clean shutdown has returned (cap state
    saved, fleet left, database committed) and the PID file is gone.

    The interpreter's own teardown (freeing every module and object of a running bot) took about
    1 s of CPU and 4-7 s on a loaded 2-core host (tests/e2e/test_fleet_sigterm.py): more than
    ``trader247 stop``'s 5 s grace, so a complete shutdown still ended in SIGKILL. Nothing of the
    teardown is needed: the logs are flushed and closed here; the atexit handlers skipped are
    thread-pool joins and an unused telemetry exporter.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(args: argparse.Namespace) -> int:
    freqtrade_args = [a for a in args.freqtrade_args if a != "--"]
    if not any(a in ("-c", "--config") or a.startswith("--config=") for a in freqtrade_args):
        freqtrade_args = ["-c", "config/config.json", *freqtrade_args]
    if not args.skip_validation:
        from trader247.cli.validate import report

        if report(_config_args(freqtrade_args), "text", _userdir_arg(freqtrade_args)) != 0:
            print("❌ Fix the configuration and run again (nothing was started)", file=sys.stderr)
            return 1
    pid = os.getpid()
    try:
        note = acquire_pid_file(args.pid_file, pid)
    except AlreadyRunning as exc:
        print(f"❌ {exc}", file=sys.stderr)
        return 1
    if note:
        print(f"⚠️  {note}", flush=True)
    try:
        code = trade(freqtrade_args)
    finally:
        release_pid_file(args.pid_file, pid)
    arm_exit_watchdog(code)  # in case flushing the logs hangs on a stuck thread's lock
    exit_after_shutdown(code)


CONFIGURATION_ERROR_LOG = "Configuration error: "
"""How freqtrade's ``main()`` logs a ``ConfigurationError`` (logger ``freqtrade``), the one
trace it leaves: it catches the exception and exits 0 (``tests/compat`` pins both)."""
CONFIGURATION_ERROR_EXIT = 2


def _configuration_error_logged() -> bool:
    """Whether freqtrade's ``main()`` logged a configuration error in this process.

    Read from freqtrade's own log buffer (what its REST ``/logs`` serves), which freqtrade's
    logging set-up keeps; a handler of ours would be removed by that set-up (``dictConfig``
    resets the ``freqtrade`` logger). ``main()`` logs the error last, so the buffer's trimming
    (it keeps the newest half when full) cannot drop it.
    """
    from freqtrade.loggers import bufferHandler

    return any(record.name == "freqtrade" and record.levelno >= logging.ERROR
               and str(record.msg).startswith(CONFIGURATION_ERROR_LOG)
               for record in bufferHandler.buffer)


def trade(freqtrade_args: list[str]) -> int:
    """freqtrade's own ``main(["trade", ...])``; returns the exit code for a process manager.

    freqtrade logs the configuration error itself (one message); we only change the exit code.
    """
    from freqtrade.main import main as freqtrade_main

    try:
        freqtrade_main(["trade", *freqtrade_args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    if code == 0 and _configuration_error_logged():
        return CONFIGURATION_ERROR_EXIT
    # freqtrade exits 130 after SIGTERM/SIGINT (it raises KeyboardInterrupt); a requested stop
    # that completed its clean shutdown is a success for a process manager.
    return 0 if code == 130 else code


def add_stop_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pid-file", type=Path, default=DEFAULT_PID_FILE)
    parser.add_argument("-c", "--config", action="append", dest="configs")
    parser.add_argument("--grace", type=float, default=None,
                        help="seconds between SIGTERM and SIGKILL (policy shutdown."
                             "stop_grace_seconds, default 5)")
    parser.add_argument("--liquidate", action="store_true",
                        help="exit all open positions first (policy shutdown.liquidate_on_stop)")
    parser.set_defaults(handler=stop)


def _shutdown_policy(configs: list[str]) -> tuple[Any, dict[str, Any] | None]:
    """``shutdown:`` of policy.yaml, or its defaults when the files cannot be read (a stop must
    still work with a broken config)."""
    from trader247.configfiles import ConfigFileError, load_policy
    from trader247.core.config import ShutdownConfig
    from trader247.preflight import locate, run_preflight

    problems, config = run_preflight(configs)
    if config is None:
        return ShutdownConfig(), None
    try:
        return load_policy(locate(config)[0]).shutdown, config
    except ConfigFileError:
        return ShutdownConfig(), config


def stop(args: argparse.Namespace) -> int:
    pid = read_pid(args.pid_file)
    if pid is None or not _process_alive(pid):
        if args.pid_file.exists():
            args.pid_file.unlink()
            print(f"247trader was not running (stale PID file {args.pid_file} removed)")
        else:
            print("247trader is not running")
        return 0
    shutdown, config = _shutdown_policy(args.configs or ["config/config.json"])
    grace = args.grace if args.grace is not None else shutdown.stop_grace_seconds
    if (args.liquidate or shutdown.liquidate_on_stop) and config:
        timeout = shutdown.liquidate_timeout_seconds
        left = liquidate(config, timeout)
        print("liquidation: all positions closed" if not left
              else f"liquidation: NOT closed within {timeout:g}s: {'; '.join(left)}")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _process_alive(pid):
        time.sleep(0.1)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    forced = _process_alive(pid)
    if forced:
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        args.pid_file.unlink()
    print(f"247trader stopped (pid {pid}{', forced with SIGKILL' if forced else ''})")
    return 0


def _api(config: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    api = config.get("api_server") or {}
    host = api.get("listen_ip_address", "127.0.0.1")
    host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    url = f"http://{host}:{api.get('listen_port', 8080)}/api/v1/{path}"
    token = base64.b64encode(f"{api.get('username')}:{api.get('password')}".encode()).decode()
    request = urllib.request.Request(
        url, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def liquidate(config: dict[str, Any], timeout: float) -> list[str]:
    """Force-exit every open trade through the bot's REST API; returns what is still open.

    One ``/forceexit`` per trade, not ``tradeid: all``: freqtrade's "all" stops at the first
    trade whose exit fails (an order the exchange refuses), so the trades after it would never
    be sold, and its error would hide which ones are left. A trade without an open order is
    asked again every second until ``timeout`` (a refused or part-filled market sell is retried);
    each line of the result names the pair, the trade and the last refusal, if any.
    """
    if not (config.get("api_server") or {}).get("enabled"):
        return ["(api_server disabled: cannot liquidate)"]
    deadline = time.monotonic() + timeout
    refused: dict[int, str] = {}
    since = sys.exception()
    try:
        while True:  # ends at the deadline, checked first thing each round
            status = _api(config, "GET", "status") or []
            if not status or time.monotonic() > deadline:
                return [f"{t['pair']} (trade {t['trade_id']})"
                        + (f": {refused[t['trade_id']]}" if t["trade_id"] in refused else "")
                        for t in status] + _leftovers(config, status)
            for trade in status:
                if _exit_in_flight(trade):
                    continue  # an open entry order is cancelled by freqtrade's force exit
                refusal = _force_exit(config, trade["trade_id"])
                if refusal is None:
                    refused.pop(trade["trade_id"], None)
                else:
                    refused[trade["trade_id"]] = refusal
            time.sleep(1.0)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise_interrupt(exc, since=since)  # Ctrl-C inside a request stops the liquidation
        return [f"(REST API unreachable: {exc})"]


# Holdings worth less than this (stake currency) are dust no exchange sells (Coinbase: 1 USD).
LEFTOVER_MIN_STAKE = 1.0


def _leftovers(config: dict[str, Any], status: list[dict[str, Any]]) -> list[str]:
    """Coins the exchange still holds that a closed trade left behind, worth at least
    ``LEFTOVER_MIN_STAKE`` at that trade's close rate: freqtrade closes a trade whose full exit
    filled only in part (an IOC market sell the book could not fill), although the rest is still
    held. Reported, never sold; coins no trade of this bot held are not its business."""
    balance = _api(config, "GET", "balance") or {}
    stake = balance.get("stake")
    traded = {asset_of(t["pair"]) for t in status}
    rates: dict[str, float] = {}
    for trade in (_api(config, "GET", "trades?limit=500") or {}).get("trades") or []:
        if not trade.get("is_open") and trade.get("close_rate"):
            rates[asset_of(trade["pair"])] = float(trade["close_rate"])  # oldest first
    left = []
    for currency in balance.get("currencies") or []:
        coin, amount = currency.get("currency"), float(currency.get("balance") or 0.0)
        value = float(currency.get("est_stake") or 0.0) or amount * rates.get(coin, 0.0)
        if coin in rates and coin not in traded and value >= LEFTOVER_MIN_STAKE:
            left.append(f"{coin} {amount:.10g} (~{value:.2f} {stake}) held on the exchange "
                        "after its trade was closed")
    return left


def _exit_in_flight(trade: dict[str, Any]) -> bool:
    exit_side = "buy" if trade.get("is_short") else "sell"
    return any(o.get("is_open") and o.get("ft_order_side") == exit_side
               for o in trade.get("orders") or [])


def _force_exit(config: dict[str, Any], trade_id: int) -> str | None:
    """``/forceexit`` one trade at market; the bot's error message when it refused."""
    try:
        _api(config, "POST", "forceexit", {"tradeid": str(trade_id), "ordertype": "market"})
    except urllib.error.HTTPError as exc:
        try:
            return str(json.loads(exc.read() or b"{}").get("error") or exc)
        except ValueError:
            return str(exc)
    return None
