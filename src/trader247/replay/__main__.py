"""``trader247-replay`` / ``python -m trader247.replay``: serve the offline Coinbase replay.

Prints exactly one line on stdout when ready; diagnostics go to stderr. Bad input exits 2 with
one ``trader247-replay: error: ...`` line; SIGTERM/SIGINT stop it cleanly with exit code 0.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import NoReturn

PROG = "trader247-replay"


def _speed(value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not speed > 0 or speed != speed or speed == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value!r}")
    return speed


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be within 0..65535, got {port}")
    return port


def _when(value: str) -> float:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date/time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one line like every other bad-input error (argparse adds the usage block otherwise)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Offline Coinbase Advanced Trade REST replay for ccxt/freqtrade.",
    )
    parser.add_argument("--data-dir", default="user_data/data/coinbase", type=Path,
                        help="freqtrade OHLCV files <BASE>_<QUOTE>-<tf>.feather|json "
                             "(default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    parser.add_argument("--port", default=8765, type=_port,
                        help="0 picks a free port (default: %(default)s)")
    parser.add_argument("--speed", default=1.0, type=_speed,
                        help="data candles walked per real candle (default: %(default)s)")
    parser.add_argument("--scenario", type=Path, help="faults / price scripts (YAML or JSON)")
    parser.add_argument("--keys", type=Path,
                        help="API keys file (public keys -> accounts) for the private endpoints; "
                             "see python -m trader247.replay.keys")
    parser.add_argument("--timeframes", nargs="+", metavar="TF",
                        help="only load files of these timeframes (default: all)")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--start-offset-candles", type=int, default=1000, metavar="N",
                       help="start the walk with at least N candles of every file behind it "
                            "(default: %(default)s)")
    start.add_argument("--start-at", type=_when, metavar="ISO",
                       help="start the walk at this data time instead")
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="stderr log level (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # imported after argument parsing so --help stays instant
    from trader247.replay.api import ReplayExchange
    from trader247.replay.auth import KeysError, load_keys
    from trader247.replay.faults import ScenarioError
    from trader247.replay.feed import FeedError, load_feed
    from trader247.replay.scenario import Scenario, load_scenario
    from trader247.replay.server import BindError, ReplayServer

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # installed before the (seconds-long) data load so an early SIGTERM still exits cleanly
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        scenario = load_scenario(args.scenario) if args.scenario else Scenario()
        keys = load_keys(args.keys) if args.keys else None
        feed = load_feed(args.data_dir, args.timeframes)
        exchange = ReplayExchange(feed, speed=args.speed, scenario=scenario,
                                  start_offset_candles=max(0, args.start_offset_candles),
                                  start_at=args.start_at, keys=keys)
        server = ReplayServer(exchange, args.host, args.port)
    except (FeedError, ScenarioError, KeysError, BindError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
        return 2

    if stop.is_set():
        server.stop()
        return 0
    server.start()
    state = exchange.state()
    logging.getLogger(PROG).info(
        "walk starts at data time %s, loops from %s back to %s, speed %g, %d timeframes",
        state["walk_start"], state["loop_end"], state["loop_start"], exchange.clock.speed,
        len({tf for tfs in state["timeframes"].values() for tf in tfs}))
    with contextlib.suppress(BrokenPipeError):  # nobody reads stdout: keep serving anyway
        print(f"replay exchange listening on {server.url} ({len(feed.pairs)} pairs)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
