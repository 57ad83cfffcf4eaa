"""``trader247 migrate --from <v2 config dir> --to <new dir> [--force] [--explain]``.

Exit codes: 0 written (the report says what became of every key; unrecognised keys are
listed as a warning); 1 bad input (missing or unreadable files, unknown profile, a value out of
range, written files that would not validate): every problem is printed as
``file:line: key: message`` and nothing is written; 2 usage (bad arguments, ``--to`` not empty);
130 / 143 stopped by Ctrl-C / SIGTERM (one line, nothing written: the files are built in a
temporary directory that is removed on the way out).

It does not run long: three config files of at most 1 MiB each (``configfiles.MAX_BYTES``);
5 s for the 342-key ``tests/migrate/fixtures/v2_real``, most of it importing freqtrade for its
config validation. The interrupt handling is there so a Ctrl-C is one line, not a traceback.
"""

from __future__ import annotations

import argparse
import sys

from trader247.cli.interrupts import interruptible
from trader247.migrate.build import migrate
from trader247.migrate.model import REPORT_FILE, Status
from trader247.migrate.report import explain, summary_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, metavar="DIR",
                        help="the original bot's config directory (policy.yaml, universe.yaml, "
                             "app.yaml)")
    parser.add_argument("--to", dest="target", required=True, metavar="DIR",
                        help="new directory for config.json, policy.yaml, universe.yaml and "
                             f"{REPORT_FILE} (must not exist or be empty)")
    parser.add_argument("--force", action="store_true",
                        help="replace those four files in an existing, non-empty --to")
    parser.add_argument("--explain", action="store_true",
                        help="print what became of every source key (mapped -> where, covered "
                             f"by -> how, dropped -> why), as {REPORT_FILE} lists it")
    parser.set_defaults(handler=run)


@interruptible("migrate")
def run(args: argparse.Namespace) -> int:
    result = migrate(args.source, args.target, force=args.force)
    if result.errors:
        for line in result.errors:
            print(f"❌ {line}", file=sys.stderr)
        if result.usage_error:
            return 2
        print(f"❌ Migration failed: {len(result.errors)} problem(s); nothing was written",
              file=sys.stderr)
        return 1
    for line in result.warnings:
        print(f"⚠️  {line}")
    if getattr(args, "explain", False):
        for row in result.rows:
            print(f"   {explain(row)}")
    unknown = [row for row in result.rows if row.status is Status.UNRECOGNISED]
    for row in unknown:
        print(f"⚠️  {row.line()}")
    print(f"✅ Wrote {args.target}: config.json, policy.yaml, universe.yaml, {REPORT_FILE}")
    print(f"   {summary_line(result)}; unexplained: {len(unknown)}")
    if not getattr(args, "explain", False):
        print(f"   What became of each key: {REPORT_FILE} (or run again with --explain)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trader247 migrate", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
