"""The pure part of `make mutation`: mutmut's verdicts, the equivalents file, the score, the table.

Nothing here runs mutmut or reads ``mutants/``: ``tests/mutation/run.py`` does the I/O and hands
plain values in, so ``tests/mutation/test_report.py`` checks this logic in the default suite.

Decisions:
- Score = killed / (mutants - equivalent). A timeout (the CPU or wall limit, i.e. an infinite
  loop) and a crash of the test process count as killed; "no tests" (no fast test runs the
  function) counts as a survivor. Mutants mutmut did not finish are reported, never killed.
- An equivalent mutant is named by what a reader sees, not by mutmut's index (which shifts with
  every edit above it): module path, function (``Class.method``), the source line(s) the mutant
  changes and the line(s) it makes, each stripped. An entry that matches no mutant of a module
  that was run is STALE; one that matches a killed mutant is wrong. Both fail the run.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

KILLED, TIMEOUT, CRASHED = "killed", "timeout", "crashed"
SURVIVED, NO_TESTS, NOT_RUN = "survived", "no tests", "not run"
EQUIVALENT = "equivalent"
KILLS = frozenset({KILLED, TIMEOUT, CRASHED})

# mutmut 3.8.1's exit codes (mutmut/stats.py ``status_by_exit_code``); test_report.py checks
# that this table agrees with the installed mutmut, so an upgrade that changes them fails there.
_STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    1: KILLED, 3: KILLED,               # a test failed; pytest's internal error is a kill too
    0: SURVIVED,
    5: NO_TESTS, 33: NO_TESTS,          # pytest collected nothing; no test covers the function
    36: TIMEOUT, 24: TIMEOUT, -24: TIMEOUT, 152: TIMEOUT, 255: TIMEOUT,  # SIGXCPU: CPU/wall
    -9: CRASHED, -11: CRASHED,          # SIGKILL one second past the CPU limit; segfault
    None: NOT_RUN, 2: NOT_RUN, 34: NOT_RUN, 35: NOT_RUN, 37: NOT_RUN,
}
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")
_ENTRY_KEYS = ("module", "function", "source", "mutant", "reason")


def status_of(exit_code: int | None) -> str:
    """Our verdict for a mutmut exit code; an unknown code is NOT_RUN (mutmut: suspicious)."""
    return _STATUS_BY_EXIT_CODE.get(exit_code, NOT_RUN)


def module_name(path: str) -> str:
    """``src/trader247/core/fleet.py`` -> ``trader247.core.fleet`` (mutmut's key prefix)."""
    return path.removeprefix("src/").removesuffix(".py").replace("/", ".")


def function_of(key: str) -> str:
    """``trader247.core.fleet.xǁFleetStoreǁreserve__mutmut_3`` -> ``FleetStore.reserve``."""
    mangled = key.partition("__mutmut_")[0].rpartition(".")[2]
    if mangled.startswith("xǁ"):
        cls, _, name = mangled[2:].partition("ǁ")
        return f"{cls}.{name}"
    if not mangled.startswith("x_"):
        raise ValueError(f"not a mutmut mutant name: {key!r}")
    return mangled[2:]


@dataclass(frozen=True)
class Change:
    """What a mutant changes: the original and the mutated line(s), and where."""

    source: str        # the removed line(s), each stripped, joined by newlines
    mutant: str        # the added line(s)
    offset: int        # line of the first removed line within the diffed function (1-based)
    hunks: str         # the diff without its file header, for people


def parse_diff(diff: str) -> Change:
    """The change in mutmut's unified diff of one function (``mutmut show``)."""
    removed: list[str] = []
    added: list[str] = []
    offset = 0
    old_line = 0
    body: list[str] = []
    for line in diff.splitlines():
        if line.startswith(("--- ", "+++ ")):
            continue
        body.append(line)
        hunk = _HUNK.match(line)
        if hunk:
            old_line = int(hunk.group(1))
        elif line.startswith("-"):
            removed.append(line[1:].strip())
            offset = offset or old_line
            old_line += 1
        elif line.startswith("+"):
            added.append(line[1:].strip())
        else:
            old_line += 1
    if not removed and not added:
        raise ValueError(f"no change in this diff:\n{diff}")
    return Change("\n".join(removed), "\n".join(added), offset, "\n".join(body))


def locate(module_source: str, function: str, change: Change) -> int:
    """The line in the module of the first line the mutant changes (0: not found).

    Several identical lines in one function: the one nearest the diff's own offset."""
    node = _find_function(ast.parse(module_source).body, function.split("."))
    if node is None or not change.source:
        return 0
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    wanted = change.source.splitlines()[0]
    lines = module_source.splitlines()
    hits = [n for n in range(first, (node.end_lineno or first) + 1)
            if lines[n - 1].strip() == wanted]
    guess = first + change.offset - 1
    return min(hits, key=lambda n: abs(n - guess), default=0)


def _find_function(body: Sequence[ast.stmt], names: Sequence[str]) -> ast.FunctionDef | None:
    for node in body:
        if isinstance(node, ast.ClassDef) and len(names) == 2 and node.name == names[0]:
            return _find_function(node.body, names[1:])
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == names[0] \
                and len(names) == 1:
            return node  # type: ignore[return-value]  # async defs have the same fields we read
    return None


def decorated_functions(module_source: str) -> list[str]:
    """Functions plain mutmut 3 leaves alone: every decorator but a lone @staticmethod /
    @classmethod (``@property``, ``@contextmanager``, ``@functools.wraps`` on a patch's inner
    function...) makes it skip the function and all it contains. mutmut_ext.py lifts that."""
    found: list[str] = []
    for node in ast.parse(module_source).body:
        members = node.body if isinstance(node, ast.ClassDef) else [node]
        prefix = f"{node.name}." if isinstance(node, ast.ClassDef) else ""
        for fn in members:
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                found.extend(_skipped(fn, prefix))
    return found


def _skipped(fn: ast.FunctionDef | ast.AsyncFunctionDef, prefix: str) -> list[str]:
    decorators = [ast.unparse(d) for d in fn.decorator_list]
    if decorators and decorators not in (["staticmethod"], ["classmethod"]):
        return [f"{prefix}{fn.name} (@{', @'.join(decorators)})"]
    inner = [n for n in ast.walk(fn) if n is not fn
             and isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.decorator_list]
    return [f"{prefix}{fn.name}.<locals>.{n.name} (@{', @'.join(map(ast.unparse, n.decorator_list))})"
            for n in inner]


def pragma_lines(module_source: str) -> tuple[int, list[int]]:
    """(count of ``# pragma: no mutate`` lines, those not on a DEBUG log line: not allowed)."""
    count, misplaced = 0, []
    for number, line in enumerate(module_source.splitlines(), 1):
        if "pragma: no mutate" in line:
            count += 1
            if ".debug(" not in line:
                misplaced.append(number)
    return count, misplaced


@dataclass(frozen=True)
class Equivalent:
    module: str
    function: str
    source: str
    mutant: str
    reason: str
    where: str  # "file: entry N", for messages

    def matches(self, module: str, function: str, change: Change) -> bool:
        return (self.module, self.function, _norm(self.source), _norm(self.mutant)) == \
            (module, function, _norm(change.source), _norm(change.mutant))


def _norm(text: str) -> str:
    return "\n".join(line.strip() for line in text.strip().splitlines())


class EquivalentsError(ValueError):
    pass


def load_equivalents(text: str, name: str, modules: Iterable[str]) -> list[Equivalent]:
    """Parse the equivalents file; every problem is reported at once, naming the entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise EquivalentsError(f"{name}: not valid TOML: {exc}") from None
    unknown = set(data) - {"equivalent"}
    problems = [f"{name}: unknown top-level key(s) {sorted(unknown)}"] if unknown else []
    entries: list[Equivalent] = []
    scope = set(modules)
    for index, raw in enumerate(data.get("equivalent", []), 1):
        where = f"{name}: [[equivalent]] #{index}"
        bad = _entry_problems(raw, scope)
        if bad:
            problems.extend(f"{where}: {problem}" for problem in bad)
            continue
        module, function, source, mutant, reason = (raw[key].strip() for key in _ENTRY_KEYS)
        entry = Equivalent(module, function, source, mutant, reason, where)
        if any(entry.matches(e.module, e.function, Change(e.source, e.mutant, 0, ""))
               for e in entries):
            problems.append(f"{where}: the same mutant as an entry above")
        entries.append(entry)
    if problems:
        raise EquivalentsError("\n".join(problems))
    return entries


def _entry_problems(raw: object, scope: set[str]) -> list[str]:
    if not isinstance(raw, dict):
        return ["must be a table"]
    problems = [f"unknown key {key!r}" for key in raw if key not in _ENTRY_KEYS]
    for key in _ENTRY_KEYS:
        value = raw.get(key)
        if not isinstance(value, str):
            problems.append(f"{key}: missing or not a string")
        elif key != "mutant" and not value.strip():  # a mutant may delete its line
            problems.append(f"{key}: empty")
    module = raw.get("module")
    if isinstance(module, str) and module.strip() and module.strip() not in scope:
        problems.append(f"module: {module!r} is not a mutated module (pyproject "
                        "[tool.mutmut] only_mutate)")
    return problems


@dataclass(frozen=True)
class Mutant:
    key: str
    module: str
    function: str
    status: str
    seconds: float
    change: Change
    line: int


@dataclass
class Outcome:
    """Mutants with equivalents applied, and what is wrong with the equivalents file."""

    mutants: list[Mutant]
    equivalent: set[str] = field(default_factory=set)          # mutant keys
    stale: list[Equivalent] = field(default_factory=list)
    killed_but_declared: list[tuple[Equivalent, Mutant]] = field(default_factory=list)

    def verdict(self, mutant: Mutant) -> str:
        return EQUIVALENT if mutant.key in self.equivalent else mutant.status


def apply_equivalents(mutants: list[Mutant], entries: Sequence[Equivalent],
                      modules_run: Iterable[str]) -> Outcome:
    outcome = Outcome(mutants)
    run = set(modules_run)
    for entry in entries:
        if entry.module not in run:
            continue
        hits = [m for m in mutants if entry.matches(m.module, m.function, m.change)]
        if not hits:
            outcome.stale.append(entry)
        for mutant in hits:
            if mutant.status in KILLS:
                outcome.killed_but_declared.append((entry, mutant))
            elif mutant.status != NOT_RUN:
                outcome.equivalent.add(mutant.key)
    return outcome


@dataclass(frozen=True)
class Row:
    module: str
    mutants: int
    killed: int
    timeouts: int
    equivalent: int
    survived: int
    not_run: int
    seconds: float

    @property
    def score(self) -> float | None:
        """killed / (mutants - equivalent); None when every mutant is equivalent (or none)."""
        tested = self.mutants - self.equivalent
        return self.killed / tested if tested else None


def rows(outcome: Outcome, modules: Sequence[str]) -> list[Row]:
    table = []
    for module in modules:
        own = [m for m in outcome.mutants if m.module == module]
        verdicts = [outcome.verdict(m) for m in own]
        table.append(Row(
            module, len(own), sum(v in KILLS for v in verdicts), verdicts.count(TIMEOUT),
            verdicts.count(EQUIVALENT), sum(v in (SURVIVED, NO_TESTS) for v in verdicts),
            verdicts.count(NOT_RUN), sum(m.seconds for m in own)))
    return table


def total(table: Sequence[Row]) -> Row:
    return Row("total", *(sum(getattr(r, f) for r in table) for f in (
        "mutants", "killed", "timeouts", "equivalent", "survived", "not_run", "seconds")))


def format_table(table: Sequence[Row]) -> str:
    """Markdown; score = killed / (mutants - equivalent), timeouts are included in killed."""
    lines = ["| module | mutants | killed | (of which timeout) | equivalent | survived | not run "
             "| score | seconds |", "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for row in [*table, total(table)] if len(table) > 1 else table:
        score = "n/a" if row.score is None else f"{100 * row.score:.1f} %"
        name = row.module.removeprefix("src/trader247/")
        lines.append(f"| {name} | {row.mutants} | {row.killed} | {row.timeouts} | "
                     f"{row.equivalent} | {row.survived} | {row.not_run} | {score} | "
                     f"{row.seconds:.0f} |")
    return "\n".join(lines)


def format_survivors(outcome: Outcome, modules: Sequence[str], *, compact: bool = False) -> str:
    """Per module, each survivor: file:line, function, verdict and the diff (``compact``: only
    the changed lines, one survivor a line)."""
    out: list[str] = []
    for module in modules:
        left = sorted((m for m in outcome.mutants if m.module == module
                       and outcome.verdict(m) in (SURVIVED, NO_TESTS, NOT_RUN)),
                      key=lambda m: (m.line, m.key))
        if not left:
            continue
        out.append(f"\n### {module} ({len(left)} left)\n")
        for m in left:
            note = {NO_TESTS: " (no fast test runs this function)",
                    NOT_RUN: " (mutmut did not finish it)"}.get(m.status, "")
            where = f"- `{module}:{m.line}` `{m.function}`"
            if compact:
                out.append(f"{where}{note}: `{_one_line(m.change.source)}` -> "
                           f"`{_one_line(m.change.mutant)}`")
                continue
            out.append(f"{where} {m.key.rpartition('.')[2]}{note}")
            out.append("  ```diff\n" + _indent(m.change.hunks, "  ") + "\n  ```")
    return "\n".join(out).lstrip("\n")


def format_problems(outcome: Outcome, misplaced_pragmas: Mapping[str, list[int]]) -> list[str]:
    problems = [f"STALE equivalent ({e.where}): {e.module} {e.function}: {e.source!r} -> "
                f"{e.mutant!r} matches no mutant any more: delete or update it"
                for e in outcome.stale]
    problems += [f"KILLED but declared equivalent ({e.where}): {m.key} is killed by a test, so "
                 "it is not equivalent: delete the entry" for e, m in outcome.killed_but_declared]
    problems += [f"{module}:{line}: `# pragma: no mutate` is allowed on DEBUG log lines only"
                 for module, lines in misplaced_pragmas.items() for line in lines]
    return problems


def _one_line(text: str) -> str:
    return " / ".join(text.splitlines()).replace("`", "'")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def in_scope(patterns: Iterable[str], root: Path) -> list[str]:
    """The module paths the ``only_mutate`` globs name, relative to ``root``, sorted."""
    return sorted({str(p.relative_to(root)) for pattern in patterns for p in root.glob(pattern)
                   if p.suffix == ".py"})
