"""``trader247`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


def _commands() -> dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]]:
    from trader247.cli import (
        backtest,
        demo,
        exposure_report,
        launcher,
        userdir,
        validate,
        walk_forward,
    )
    from trader247.migrate import cli as migrate

    return {
        "demo": ("replay exchange + freqtrade trade --dry-run, offline", demo.add_arguments),
        "backtest": ("freqtrade backtesting against the replay exchange", backtest.add_arguments),
        "validate": ("pre-flight check of freqtrade's config and our YAML files",
                     validate.add_arguments),
        "run": ("pre-flight check, PID file, then freqtrade trade", launcher.add_run_arguments),
        "stop": ("stop a bot started with `trader247 run`", launcher.add_stop_arguments),
        "exposure-report": ("at-risk % per candle of a backtest against the cap",
                            exposure_report.add_arguments),
        "walk-forward": ("rolling hyperopt + out-of-sample backtests vs SampleStrategy and "
                         "buy-and-hold", walk_forward.add_arguments),
        "init-userdir": ("copy our plugins into a freqtrade user dir (--userdir) and write the "
                         "default policy.yaml and universe.yaml into --config-dir",
                         userdir.add_arguments),
        "migrate": ("convert a 247trader-v2 config directory into freqtrade + 247trader files",
                    migrate.add_arguments),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Parse and run one command. A Ctrl-C that no command handled (during the imports, or in a
    command without signal handling of its own) is one line and exit 130, not a traceback; the
    long commands handle SIGINT and SIGTERM themselves (``trader247.cli.interrupts``)."""
    try:
        parser = argparse.ArgumentParser(prog="trader247", description=__doc__)
        sub = parser.add_subparsers(dest="command", required=True)
        for name, (help_text, add_arguments) in _commands().items():
            # argparse %-formats help (not descriptions): "at-risk % per" crashed --help.
            add_arguments(sub.add_parser(name, help=help_text.replace("%", "%%"),
                                         description=help_text))
        args = parser.parse_args(argv)
        code: int = args.handler(args)
    except KeyboardInterrupt:
        print("trader247: stopped by SIGINT", file=sys.stderr, flush=True)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
