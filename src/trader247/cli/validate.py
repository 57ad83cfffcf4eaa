"""``trader247 validate [-c config/config.json ...] [--format json]`` (also
``python -m trader247.validate``): the pre-flight check of seed fix 5.

Exit codes: 0 valid (warnings allowed), 1 any error. Every problem is printed, not only the first.
"""

from __future__ import annotations

import argparse
import json
import logging

from trader247.preflight import run_preflight

OK_LINE = "✅ All configuration files are valid!"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", action="append", dest="configs",
                        help="freqtrade config file (repeatable, as in freqtrade); "
                             "default config/config.json")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return report(args.configs or ["config/config.json"], args.format)


def report(configs: list[str], output_format: str) -> int:
    """Print every problem; 1 when any is an error (``trader247 run`` uses this too)."""
    # Warnings are already in the problem list; the loaders' own log lines would repeat them.
    logger = logging.getLogger("trader247")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        problems, _ = run_preflight(configs)
    finally:
        logger.setLevel(level)
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


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m trader247.validate", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args())
