"""``trader247 backtest [freqtrade backtesting args]``: backtest offline.

Freqtrade loads markets from the exchange even when backtesting, so this starts the replay
exchange on a free loopback port, runs ``freqtrade backtesting`` against it with any extra
arguments passed through, and stops the exchange afterwards.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from trader247.cli.demo import exchange_override
from trader247.cli.processes import StartupFailed, free_port, start_replay, stop


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, default=Path("config/config.json"))
    parser.add_argument("--userdir", type=Path, default=Path("user_data"))
    parser.add_argument("--data-dir", type=Path, default=Path("user_data/data/coinbase"))
    parser.add_argument("freqtrade_args", nargs=argparse.REMAINDER,
                        help="passed to freqtrade backtesting (e.g. --timerange 20250101-)")
    parser.set_defaults(handler=run)


def _split_configs(args: list[str]) -> tuple[list[str], list[str]]:
    rest: list[str] = []
    configs: list[str] = []
    iterator = iter(args)
    for arg in iterator:
        if arg in ("-c", "--config"):
            configs.append(next(iterator, ""))
        elif arg.startswith("--config="):
            configs.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return rest, configs


def run(args: argparse.Namespace) -> int:
    if not any(args.data_dir.glob("*.feather")):
        print(f"error: no candles in {args.data_dir}: run `make data` first", file=sys.stderr)
        return 2
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="trader247-backtest-") as tmp:
        log = (Path(tmp) / "replay.log").open("w")
        try:
            replay = start_replay(args.data_dir, port, log=log)
        except StartupFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        override = Path(tmp) / "exchange.json"
        override.write_text(json.dumps(exchange_override(port)))
        extra, configs = _split_configs([arg for arg in args.freqtrade_args if arg != "--"])
        # The exchange override goes last: a later -c file wins in freqtrade.
        config_args = [part for path in [str(args.config), *configs, str(override)]
                       for part in ("-c", path)]
        command = [sys.executable, "-m", "freqtrade", "backtesting", *config_args,
                   "--userdir", str(args.userdir), *extra]
        try:
            return subprocess.run(command).returncode
        finally:
            stop(replay, grace=5.0)
