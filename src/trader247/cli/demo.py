"""``trader247 demo``: the README's main command.

Starts the bundled replay exchange on loopback and ``trader247 run`` (pre-flight validation,
PID file, then ``freqtrade trade --dry-run``) with our strategy, pairlist and protection against
it; no internet and no API keys. Ctrl-C (or SIGTERM)
stops freqtrade first (its own clean shutdown), then the exchange.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from trader247.cli.processes import StartupFailed, port_in_use, start_replay, stop

DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, default=Path("config/config.json"))
    parser.add_argument("--userdir", type=Path, default=Path("user_data"))
    parser.add_argument("--data-dir", type=Path, default=Path("user_data/data/coinbase"))
    parser.add_argument("--replay-port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--db-url", default="sqlite:///user_data/tradesv3.dryrun.sqlite")
    parser.add_argument("--replay-arg", action="append", default=[],
                        help="extra argument for the replay exchange (repeatable)")
    parser.set_defaults(handler=run)


def exchange_override(port: int) -> dict[str, object]:
    url = {"urls": {"api": {"rest": f"http://127.0.0.1:{port}"}}}
    return {"exchange": {"ccxt_config": {"enableRateLimit": False, **url,
                                         "has": {"fetchL2OrderBook": True}},
                         "ccxt_async_config": {"enableRateLimit": False, **url}}}


def run(args: argparse.Namespace) -> int:
    if not args.config.is_file():
        print(f"error: freqtrade config {args.config} not found", file=sys.stderr)
        return 2
    if not any(args.data_dir.glob("*.feather")):
        print(f"error: no candles in {args.data_dir}: run `make data` first", file=sys.stderr)
        return 2
    if port_in_use("127.0.0.1", args.replay_port):
        print(f"error: replay port 127.0.0.1:{args.replay_port} is in use "
              "(another demo running? choose one with --replay-port)", file=sys.stderr)
        return 2

    try:
        replay = start_replay(args.data_dir, args.replay_port, extra_args=args.replay_arg,
                              log=sys.stdout)
    except StartupFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    override = args.userdir / ".demo-exchange.json"
    override.write_text(json.dumps(exchange_override(args.replay_port), indent=2))
    # Through the launcher: pre-flight validation and the PID file, as in production.
    command = [sys.executable, "-m", "trader247.cli", "run", "--pid-file",
               str(args.userdir / "trader247.pid"), "--", "--dry-run",
               "-c", str(args.config), "-c", str(override),
               "--userdir", str(args.userdir), "--db-url", args.db_url]
    print("starting:", " ".join(command), flush=True)
    bot = subprocess.Popen(command, start_new_session=True)

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
