"""``trader247 demo [--live]``: the README's main command.

Starts the bundled replay exchange on loopback and ``trader247 run`` (pre-flight validation,
PID file, then ``freqtrade trade``) with our strategy, pairlist and protection against it; no
internet. Ctrl-C (or SIGTERM) stops freqtrade first (its own clean shutdown), then the exchange.

- ``trader247 demo``: ``--dry-run``, no API keys (freqtrade's simulator fills the orders).
- ``trader247 demo --live`` (``make demo-live``): ``dry_run: false`` -- freqtrade places real
  orders on the replay's private API with a local demo key. The key is created on the first
  start in ``<state-dir>/replay-keys/`` (gitignored; ``python -m trader247.replay.keys``):
  ``keys.json`` (public key -> account ``demo`` with 10,000 USD) for the replay, and
  ``demo-1.json``, the freqtrade config layer holding ``exchange.key`` (the key name) and
  ``exchange.secret`` (the EC private key PEM), passed as one more ``-c``. The replay keeps
  balances and orders in memory, so each start begins with a fresh account and, unless
  ``--db-url`` says otherwise, a fresh database (``<state-dir>/demo-live/<UTC time>.sqlite``).
  The REST API keeps the bundled demo credentials: the pre-flight accepts them only because the
  exchange is on loopback.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from types import FrameType

from trader247.cli.processes import StartupFailed, port_in_use, start_replay, stop

DEFAULT_PORT = 8765
DEMO_ACCOUNT = "demo"
DEMO_BALANCE = {"USD": Decimal("10000")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, default=Path("config/config.json"))
    parser.add_argument("--userdir", type=Path, default=Path("user_data"))
    parser.add_argument("--data-dir", type=Path, default=Path("user_data/data/coinbase"))
    parser.add_argument("--replay-port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--db-url", default=None,
                        help="default: sqlite:///user_data/tradesv3.dryrun.sqlite; with --live a "
                             "fresh <state-dir>/demo-live/<UTC time>.sqlite per start")
    parser.add_argument("--replay-arg", action="append", default=[],
                        help="extra argument for the replay exchange (repeatable)")
    parser.add_argument("--live", action="store_true",
                        help="live mode (dry_run false) on the replay with a local demo API key")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where the demo writes its files (exchange override, PID file, demo "
                             "keys, live databases); default: --userdir")
    parser.add_argument("--api-port", type=int, default=None,
                        help="freqtrade REST API port (default: the config's)")
    parser.set_defaults(handler=run)


def exchange_override(port: int) -> dict[str, object]:
    url = {"urls": {"api": {"rest": f"http://127.0.0.1:{port}"}}}
    return {"exchange": {"ccxt_config": {"enableRateLimit": False, **url,
                                         "has": {"fetchL2OrderBook": True}},
                         "ccxt_async_config": {"enableRateLimit": False, **url}}}


def live_override(port: int, api_port: int | None = None) -> dict[str, object]:
    """The demo's config layer for live mode on the replay at ``port``."""
    override: dict[str, object] = {**exchange_override(port), "dry_run": False}
    if api_port is not None:
        override["api_server"] = {"listen_port": api_port}
    return override


def _check(args: argparse.Namespace) -> str | None:
    if not args.config.is_file():
        return f"freqtrade config {args.config} not found"
    if not any(args.data_dir.glob("*.feather")):
        return f"no candles in {args.data_dir}: run `make data` first"
    if port_in_use("127.0.0.1", args.replay_port):
        return (f"replay port 127.0.0.1:{args.replay_port} is in use "
                "(another demo running? choose one with --replay-port)")
    return None


def _live_files(args: argparse.Namespace, state: Path) -> tuple[list[str], list[str], str]:
    """(replay args, extra freqtrade -c files, db url) of a live demo; creates the key once."""
    from trader247.replay.keys import ensure_keys

    keys_dir = state / "replay-keys"
    key = ensure_keys(keys_dir, {DEMO_ACCOUNT: DEMO_BALANCE}, 1)[0]
    print(f"live demo: key {key.name} (account {DEMO_ACCOUNT!r}, config layer {key.config})",
          flush=True)
    db_url = args.db_url
    if db_url is None:
        (state / "demo-live").mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        db_url = f"sqlite:///{state / 'demo-live' / f'{stamp}.sqlite'}"
    return ["--keys", str(keys_dir / "keys.json")], ["-c", str(key.config)], db_url


def run(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    state = args.state_dir or args.userdir
    state.mkdir(parents=True, exist_ok=True)
    replay_args: list[str] = list(args.replay_arg)
    key_layer: list[str] = []
    db_url = args.db_url or "sqlite:///user_data/tradesv3.dryrun.sqlite"
    if args.live:
        extra_replay, key_layer, db_url = _live_files(args, state)
        replay_args += extra_replay
    try:
        replay = start_replay(args.data_dir, args.replay_port, extra_args=replay_args,
                              log=sys.stdout)
    except StartupFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    override = state / (".demo-live-exchange.json" if args.live else ".demo-exchange.json")
    layer = (live_override(args.replay_port, args.api_port) if args.live
             else exchange_override(args.replay_port))
    if args.api_port is not None and not args.live:
        layer["api_server"] = {"listen_port": args.api_port}
    override.write_text(json.dumps(layer, indent=2))
    # Through the launcher: pre-flight validation and the PID file, as in production.
    mode = [] if args.live else ["--dry-run"]
    command = [sys.executable, "-m", "trader247.cli", "run", "--pid-file",
               str(state / "trader247.pid"), "--", *mode,
               "-c", str(args.config), "-c", str(override), *key_layer,
               "--userdir", str(args.userdir), "--db-url", db_url]
    print("starting:", " ".join(command), flush=True)
    return _supervise(subprocess.Popen(command, start_new_session=True), replay)


def _supervise(bot: subprocess.Popen[bytes], replay: subprocess.Popen[str]) -> int:
    def forward(signum: int, _frame: FrameType | None) -> None:
        # Children run in their own sessions, so a terminal Ctrl-C reaches only us: the bot
        # gets its signal first and the exchange stays up while the bot shuts down.
        if bot.poll() is None:
            bot.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        code = bot.wait()
    finally:
        stop(bot, grace=15.0)
        stop(replay, grace=5.0)
    print(f"demo stopped (freqtrade exit code {code})", flush=True)
    return 0 if code in (0, -signal.SIGINT, -signal.SIGTERM, 130) else code
