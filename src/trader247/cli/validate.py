"""``trader247 validate``: the pre-flight check (config typos fail before the bot starts), the
one validation entry point.

- ``trader247 validate [-c config/config.json ...]``: freqtrade's config (its own loader and
  schema, ``FREQTRADE__`` variables, several ``-c`` files), then our ``policy.yaml`` and
  ``universe.yaml`` found from it, then the checks across them (``trader247.preflight``).
- ``trader247 validate --yaml POLICY UNIVERSE [--live | --dry-run]``: only our two files, for
  editing them without a freqtrade config; ``--live`` checks them as a live bot would (a cap
  above 25 % needs ``risk.acknowledge_high_cap_live``), neither flag: "not known yet" (a warning).

Which freqtrade config and user directory, as freqtrade decides them: ``--userdir`` (or
``--user-data-dir``) over the config's ``user_data_dir`` over ``./user_data``; without ``-c``,
``<userdir>/config.json`` when it exists, else ``./config.json``, else (a checkout of this
project) ``config/config.json``. A missing ``policy.yaml`` / ``universe.yaml`` is named with the
absolute path looked for and the ``trader247 init-userdir`` command that writes the default.

Every problem is printed, not only the first, as ``file:line: key.path: message``; ``--format
json`` prints them for machines. Exit codes: 0 valid (warnings allowed), 1 any error.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from trader247.configfiles import check_files
from trader247.core.config import Problem
from trader247.preflight import explain_missing, run_preflight

OK_LINE = "✅ All configuration files are valid!"
FREQTRADE_CONFIG = "config.json"  # freqtrade.constants.DEFAULT_CONFIG
CHECKOUT_CONFIG = "config/config.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", action="append", dest="configs",
                        help="freqtrade config file (repeatable, as in freqtrade); default as "
                             f"freqtrade: USERDIR/{FREQTRADE_CONFIG} or ./{FREQTRADE_CONFIG}, "
                             f"else {CHECKOUT_CONFIG}")
    parser.add_argument("--userdir", "--user-data-dir", dest="userdir", metavar="PATH",
                        help="freqtrade user directory, as for freqtrade (default: the config's "
                             "user_data_dir, else ./user_data)")
    parser.add_argument("--yaml", nargs=2, metavar=("POLICY", "UNIVERSE"),
                        help="check only these two files, without a freqtrade config")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--live", dest="dry_run", action="store_false", default=None,
                      help="with --yaml: check as a live (non dry-run) bot")
    mode.add_argument("--dry-run", dest="dry_run", action="store_true",
                      help="with --yaml: check as a dry-run bot")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    if args.yaml:
        if args.configs:
            args.parser.error("-c and --yaml exclude each other: --yaml checks only our files")
        problems = check_files(*args.yaml, dry_run=args.dry_run)
        return print_report(explain_missing(problems, tuple(args.yaml), args.userdir),
                            args.format)
    if args.dry_run is not None:
        args.parser.error("--live / --dry-run go with --yaml; the freqtrade config's dry_run "
                          "decides otherwise")
    return report(args.configs or [default_config(args.userdir)], args.format, args.userdir)


def default_config(userdir: str | None) -> str:
    """freqtrade's own default (``<userdir>/config.json`` if it exists, else ``config.json``),
    falling back to this project's checkout layout when neither exists."""
    in_userdir = Path(userdir or "user_data") / FREQTRADE_CONFIG
    if in_userdir.is_file():
        return str(in_userdir)
    if Path(FREQTRADE_CONFIG).is_file() or not Path(CHECKOUT_CONFIG).is_file():
        return FREQTRADE_CONFIG
    return CHECKOUT_CONFIG


def report(configs: list[str], output_format: str, userdir: str | None = None) -> int:
    """Check freqtrade ``configs`` (and ``userdir``, freqtrade's ``--userdir``) and our files;
    print every problem, 1 when any is an error (``trader247 run`` uses this too)."""
    # Warnings are already in the problem list; the loaders' own log lines would repeat them.
    logger = logging.getLogger("trader247")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        problems, _ = run_preflight(configs, userdir)
    finally:
        logger.setLevel(level)
    return print_report(problems, output_format)


def print_report(problems: Sequence[Problem], output_format: str) -> int:
    errors = [p for p in problems if p.severity == "error"]
    if output_format == "json":
        print(json.dumps({
            "valid": not errors,
            "problems": [{"file": p.file, "line": p.line, "column": p.column,
                          "key": ".".join(str(e) for e in p.path), "message": p.message,
                          "severity": p.severity, "text": p.format()} for p in problems],
        }, indent=2, ensure_ascii=False))
    else:
        for problem in problems:
            print(("❌ " if problem.severity == "error" else "⚠️  ") + problem.format())
        if errors:
            print(f"❌ Configuration validation failed: {len(errors)} error(s)")
        else:
            print(OK_LINE)
    return 1 if errors else 0
