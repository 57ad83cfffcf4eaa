"""`make mutation`: mutmut over the money modules, scored per module, survivors listed.

Run from the repository root: ``.venv/bin/python -m tests.mutation.run [--modules PATH ...]``
(``make mutation MODULES="src/trader247/core/fleet.py ..."``). The modules, the fast test
selection and the timeouts are mutmut's settings in pyproject.toml ``[tool.mutmut]``; the
equivalent mutants are in tests/mutation/equivalent.toml. The table and the survivors are
printed and written to reports/mutation/ (not committed). The pure logic is in report.py.

Decisions:
- Every run re-tests every mutant of the chosen modules (mutmut is given their names): its own
  cache keeps a "survived" until the *source* changes, so a new killing test would not show.
- mutmut's map of which test runs which function is kept between runs (the first run pays for
  it: the whole fast selection once under tracing). New tests are traced on the next run; a test
  edited to reach other functions is not: ``--fresh`` (``make mutation FRESH=1``) starts over.
- ``mutants/tests`` is copied anew each run, so a deleted test file does not linger there.
- mutmut runs through tests/mutation/mutmut_ext.py, which makes it mutate decorated functions
  too (``@property``, the patches' ``@functools.wraps`` wrappers...; see there).
- One throw-away PostgreSQL cluster for the whole run (tests/pg.py ``TRADER247_TEST_PG_CLUSTER``):
  mutmut forks one pytest session per mutant, and each would otherwise initdb its own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import tomllib
from pathlib import Path

from tests.mutation import report
from tests.pg import SHARED_ENV, PostgresCluster

from trader247.cli.interrupts import interruptible, run_in_group

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENTS = ROOT / "tests" / "mutation" / "equivalent.toml"


# SIGTERM as well as Ctrl-C stops mutmut's whole process group and then the PostgreSQL cluster
# (the default SIGTERM action would end this process before its `finally`, leaving both running).
@interruptible("make mutation")
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.chdir(ROOT)  # mutmut works in ./mutants relative to the current directory
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    scope = report.in_scope(config["only_mutate"], ROOT)
    modules = [m.removeprefix("./") for m in args.modules] or scope
    unknown = [m for m in modules if m not in scope]
    if unknown:
        print(f"--modules: {', '.join(unknown)} not mutated; the modules are (pyproject "
              f"[tool.mutmut] only_mutate):\n  " + "\n  ".join(scope), file=sys.stderr)
        return 2
    try:
        entries = report.load_equivalents(EQUIVALENTS.read_text(), str(EQUIVALENTS.relative_to(
            ROOT)), scope)
    except report.EquivalentsError as exc:
        print(exc, file=sys.stderr)
        return 2
    started = time.monotonic()
    if not args.report_only:
        code = _run_mutmut(modules, args.max_children, fresh=args.fresh, resume=args.resume)
        if code != 0:
            print(f"mutmut exited with {code}: no report (its output is above)", file=sys.stderr)
            return code
    took = None if args.report_only else time.monotonic() - started
    return _report(modules, entries, took, Path(args.out), args.fail_under)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make mutation", description=__doc__.split("\n")[0])
    parser.add_argument("--modules", nargs="*", default=[],
                        help="module paths (default: all of [tool.mutmut] only_mutate)")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutants")
    parser.add_argument("--fresh", action="store_true",
                        help="delete mutants/ first: re-trace which test runs which function")
    parser.add_argument("--resume", action="store_true",
                        help="test only the mutants of --modules without a result yet "
                        "(after an interrupted run)")
    parser.add_argument("--report-only", action="store_true",
                        help="report the last run's results, run nothing")
    parser.add_argument("--fail-under", type=float, default=None, metavar="PCT",
                        help="exit 1 when a module's score is below PCT")
    parser.add_argument("--out", default="reports/mutation", help="report directory")
    return parser


def _run_mutmut(modules: list[str], max_children: int, *, fresh: bool, resume: bool) -> int:
    if fresh:
        shutil.rmtree("mutants", ignore_errors=True)
    shutil.rmtree("mutants/tests", ignore_errors=True)
    # Named mutants are always re-tested (mutmut would keep an old result otherwise).
    names = _unfinished(modules) if resume else [f"{report.module_name(m)}.*" for m in modules]
    if not names:
        return 0
    cluster = PostgresCluster.start()
    try:
        # mutmut hands pytest a *set* of test ids: a fixed hash seed fixes their order, so a
        # test that depends on another's leftovers fails the same way every run.
        os.environ.update({SHARED_ENV: cluster.to_env(), "PYTHONHASHSEED": "0"})
        command = [sys.executable, "-m", "tests.mutation.mutmut_ext", "run", "--max-children",
                   str(max_children), *names]
        return run_in_group(command, log=sys.stdout, name="mutmut")
    finally:
        cluster.stop()


def _unfinished(modules: list[str]) -> list[str]:
    """The mutants of ``modules`` an interrupted run left without a result."""
    found = []
    for module in modules:
        meta = Path("mutants") / f"{module}.meta"
        if meta.exists():
            results = json.loads(meta.read_text())["exit_code_by_key"]
            found += [key for key, code in results.items() if code is None]
    return found


def _load_mutants(modules: list[str]) -> list[report.Mutant]:
    # mutmut's own reader of its generated files; imported here, as only a run needs it.
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    found = []
    for module in modules:
        meta = Path("mutants") / f"{module}.meta"
        if not meta.exists():
            raise SystemExit(f"{meta}: no mutmut results for {module}: run without --report-only")
        data = json.loads(meta.read_text())
        source = Path(module).read_text()
        for key, exit_code in data["exit_code_by_key"].items():
            function = report.function_of(key)
            change = report.parse_diff(get_diff_for_mutant(key, path=module))
            found.append(report.Mutant(
                key, module, function, report.status_of(exit_code),
                float(data["durations_by_key"].get(key, 0.0)), change,
                report.locate(source, function, change)))
    return found


def _report(modules: list[str], entries: list[report.Equivalent], seconds: float | None,
            out: Path, fail_under: float | None) -> int:
    outcome = report.apply_equivalents(_load_mutants(modules), entries, modules)
    table = report.rows(outcome, modules)
    pragmas = {m: report.pragma_lines(Path(m).read_text()) for m in modules}
    decorated = {m: report.decorated_functions(Path(m).read_text()) for m in modules}
    problems = report.format_problems(outcome, {m: p[1] for m, p in pragmas.items() if p[1]})
    summary = "\n".join([
        report.format_table(table), "",
        "score = killed / (mutants - equivalent); a timeout counts as killed. seconds: the "
        "mutants' own test time (several run in parallel); "
        + ("results of an earlier run." if seconds is None else
           f"this run took {seconds:.0f} s in all, tracing and set-up included."),
        f"`# pragma: no mutate` lines: {sum(p[0] for p in pragmas.values())}.",
        f"Decorated functions (plain mutmut skips them, tests/mutation/mutmut_ext.py mutates "
        f"them): {sum(map(len, decorated.values()))}"
        + "".join(f"\n- {m}: {', '.join(fs)}" for m, fs in decorated.items() if fs)])
    survivors = report.format_survivors(outcome, modules)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(summary + "\n")
    (out / "survivors.md").write_text(f"# Survivors\n\n{survivors or 'none'}\n")
    compact = report.format_survivors(outcome, modules, compact=True)
    (out / "survivors-compact.md").write_text(f"# Survivors\n\n{compact or 'none'}\n")
    print(f"\n## Survivors\n\n{survivors or 'none'}\n\n## Mutation score\n\n{summary}\n")
    print(f"written: {out / 'summary.md'}, {out / 'survivors.md'}")
    for problem in problems:
        print(problem, file=sys.stderr)
    low = [r.module for r in table if fail_under is not None and r.score is not None
           and 100 * r.score < fail_under]
    if low:
        print(f"below {fail_under} %: {', '.join(low)}", file=sys.stderr)
    return 1 if problems or low else 0


if __name__ == "__main__":
    sys.exit(main())
