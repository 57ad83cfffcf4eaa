"""`make mutation`'s own logic (tests/mutation/report.py): verdicts, diffs, equivalents, score.

No mutation run here: the inputs are the values mutmut 3.8.1 writes (a real ``mutmut show`` diff).
"""

from __future__ import annotations

import pytest
from mutmut.stats import status_by_exit_code
from tests.mutation import report
from tests.mutation.report import Change, Mutant

MODULE = "src/trader247/core/cluster_limits.py"
SOURCE = '''from __future__ import annotations


def asset_of_pair(pair: str) -> str:
    """``DOGE/USD`` -> ``DOGE``.

    More text."""
    pair = pair.rpartition("|")[2]
    for separator in ("/", "-"):
        if separator in pair:
            return pair.split(separator, 1)[0].upper()
    return pair.upper()


class Limits:
    @property
    def enabled(self) -> bool:
        return True

    @staticmethod
    def make() -> int:
        x = 1
        x = 1
        return x


def patch(original):
    @functools.wraps(original)
    def wrapper():
        return original()
    return wrapper
'''
# mutmut show trader247.core.cluster_limits.x_asset_of_pair__mutmut_13 (the function starts at
# line 4 above, as it did at line 14 of the real module)
DIFF = '''--- src/trader247/core/cluster_limits.py
+++ src/trader247/core/cluster_limits.py
@@ -6,5 +6,5 @@
     pair = pair.rpartition("|")[2]
     for separator in ("/", "-"):
         if separator in pair:
-            return pair.split(separator, 1)[0].upper()
+            return pair.split(separator, )[0].upper()
     return pair.upper()'''
KEY = "trader247.core.cluster_limits.x_asset_of_pair__mutmut_13"


def test_exit_codes_agree_with_the_installed_mutmut() -> None:
    ours = {"killed": report.KILLED, "timeout": report.TIMEOUT, "segfault": report.CRASHED,
            "survived": report.SURVIVED, "no tests": report.NO_TESTS}
    for code, theirs in status_by_exit_code.items():
        assert report.status_of(code) == ours.get(theirs, report.NOT_RUN), code
    assert status_by_exit_code[99] == "suspicious" and report.status_of(99) == report.NOT_RUN


@pytest.mark.parametrize("key, function", [
    (KEY, "asset_of_pair"),
    ("trader247.adapters.fleet_store.xǁFleetStoreǁreserve__mutmut_3", "FleetStore.reserve"),
    ("trader247.core.cluster_limits.xǁClusterLimitsǁ__post_init____mutmut_6",
     "ClusterLimits.__post_init__"),
])
def test_function_of_a_mutant(key: str, function: str) -> None:
    assert report.function_of(key) == function


def test_a_name_that_is_not_a_mutant_is_refused() -> None:
    with pytest.raises(ValueError, match="not a mutmut mutant name: 'trader247.core.x__mutmut_1"):
        report.function_of("trader247.core.x__mutmut_1")


def test_module_name_is_mutmuts_key_prefix() -> None:
    assert report.module_name("src/trader247/core/trim_state.py") == "trader247.core.trim_state"


def test_parse_diff_keeps_the_changed_lines_and_their_offset() -> None:
    change = report.parse_diff(DIFF)
    assert change.source == "return pair.split(separator, 1)[0].upper()"
    assert change.mutant == "return pair.split(separator, )[0].upper()"
    assert change.offset == 9  # hunk at 6 + 3 context lines
    assert change.hunks.startswith("@@ -6,5 +6,5 @@") and "+++" not in change.hunks


def test_a_diff_without_a_change_is_an_error() -> None:
    with pytest.raises(ValueError, match="no change in this diff"):
        report.parse_diff("--- a\n+++ a\n@@ -1,1 +1,1 @@\n x")


def test_locate_finds_the_line_in_the_module() -> None:
    assert report.locate(SOURCE, "asset_of_pair", report.parse_diff(DIFF)) == 11


def test_locate_picks_the_nearest_of_identical_lines() -> None:
    first, second = (Change("x = 1", "x = 2", offset, "") for offset in (3, 4))
    assert report.locate(SOURCE, "Limits.make", first) == 22
    assert report.locate(SOURCE, "Limits.make", second) == 23


def test_locate_of_an_unknown_function_is_zero() -> None:
    assert report.locate(SOURCE, "Limits.nothing", report.parse_diff(DIFF)) == 0


def test_decorated_functions_are_listed_but_staticmethods_are_not() -> None:
    assert report.decorated_functions(SOURCE) == [
        "Limits.enabled (@property)", "patch.<locals>.wrapper (@functools.wraps(original))"]


def test_pragmas_are_counted_and_allowed_on_debug_lines_only() -> None:
    text = ('logger.debug("x %s", x)  # pragma: no mutate\n'
            'logger.info("y")  # pragma: no mutate\nz = 1\n')
    assert report.pragma_lines(text) == (2, [2])


ENTRY = f'''
[[equivalent]]
module = "{MODULE}"
function = "asset_of_pair"
source = "return pair.split(separator, 1)[0].upper()"
mutant = "return pair.split(separator, )[0].upper()"
reason = "the first part of a split is the same whatever the number of splits"
'''


def test_equivalents_load() -> None:
    [entry] = report.load_equivalents(ENTRY, "eq.toml", [MODULE])
    assert entry.function == "asset_of_pair" and entry.where == "eq.toml: [[equivalent]] #1"


def test_every_problem_of_the_equivalents_file_is_reported_at_once() -> None:
    text = ENTRY + ENTRY + '''
[[equivalent]]
module = "src/trader247/cli/demo.py"
function = "f"
source = "a"
mutant = "b"
colour = "red"
'''
    with pytest.raises(report.EquivalentsError) as caught:
        report.load_equivalents(text, "eq.toml", [MODULE])
    assert str(caught.value).splitlines() == [
        "eq.toml: [[equivalent]] #2: the same mutant as an entry above",
        "eq.toml: [[equivalent]] #3: unknown key 'colour'",
        "eq.toml: [[equivalent]] #3: reason: missing or not a string",
        "eq.toml: [[equivalent]] #3: module: 'src/trader247/cli/demo.py' is not a mutated "
        "module (pyproject [tool.mutmut] only_mutate)",
    ]


def test_an_equivalents_file_that_is_not_toml_names_the_file() -> None:
    with pytest.raises(report.EquivalentsError, match="eq.toml: not valid TOML"):
        report.load_equivalents("[[equivalent]\n", "eq.toml", [MODULE])


def _mutant(key: str, status: str, change: Change | None = None, module: str = MODULE,
            seconds: float = 1.0) -> Mutant:
    change = change or Change(f"line of {key}", f"mutated {key}", 1, f"@@ {key}")
    return Mutant(key, module, report.function_of(key), status, seconds, change, 7)


def _numbered(n: int, status: str) -> list[Mutant]:
    return [_mutant(f"trader247.core.cluster_limits.x_f__mutmut_{status[:3]}{i}", status)
            for i in range(n)]


def test_a_declared_survivor_is_equivalent_and_whitespace_does_not_matter() -> None:
    [entry] = report.load_equivalents(ENTRY.replace('"return', '"  return'), "eq", [MODULE])
    survivor = _mutant(KEY, report.SURVIVED, report.parse_diff(DIFF))
    outcome = report.apply_equivalents([survivor], [entry], [MODULE])
    assert outcome.verdict(survivor) == report.EQUIVALENT
    assert not outcome.stale and not outcome.killed_but_declared


def test_an_entry_matching_no_mutant_is_stale_only_for_a_module_that_was_run() -> None:
    [entry] = report.load_equivalents(ENTRY, "eq", [MODULE])
    other = _mutant(KEY, report.SURVIVED)
    assert report.apply_equivalents([other], [entry], [MODULE]).stale == [entry]
    assert report.apply_equivalents([], [entry], ["src/trader247/core/fleet.py"]).stale == []


def test_an_entry_whose_mutant_is_killed_is_flagged_and_the_kill_stands() -> None:
    [entry] = report.load_equivalents(ENTRY, "eq", [MODULE])
    killed = _mutant(KEY, report.KILLED, report.parse_diff(DIFF))
    outcome = report.apply_equivalents([killed], [entry], [MODULE])
    assert outcome.killed_but_declared == [(entry, killed)]
    assert outcome.verdict(killed) == report.KILLED
    assert report.format_problems(outcome, {})[0].startswith(
        "KILLED but declared equivalent (eq: [[equivalent]] #1): " + KEY)


def test_score_is_killed_over_mutants_less_equivalents() -> None:
    """8 killed, 1 equivalent, 1 survivor of 10: 8/9 = 88.9 %, under a 90 % goal.
    (killed + equivalent) / mutants would say 90 %: that formula is not ours."""
    mutants = _numbered(7, report.KILLED) + _numbered(1, report.TIMEOUT) + \
        _numbered(2, report.SURVIVED)
    outcome = report.apply_equivalents(mutants, [], [MODULE])
    outcome.equivalent.add(mutants[-1].key)
    [row] = report.rows(outcome, [MODULE])
    assert (row.mutants, row.killed, row.timeouts, row.equivalent, row.survived) == (
        10, 8, 1, 1, 1)
    assert row.score == pytest.approx(8 / 9)
    assert "| core/cluster_limits.py | 10 | 8 | 1 | 1 | 1 | 0 | 88.9 % | 10 |" in \
        report.format_table([row])


def test_no_tests_is_a_survivor_and_not_run_is_not_a_kill() -> None:
    mutants = _numbered(1, report.KILLED) + _numbered(1, report.NO_TESTS) + \
        _numbered(2, report.NOT_RUN) + _numbered(1, report.CRASHED)
    [row] = report.rows(report.apply_equivalents(mutants, [], [MODULE]), [MODULE])
    assert (row.killed, row.survived, row.not_run, row.score) == (2, 1, 2, 2 / 5)


def test_a_module_of_only_equivalents_has_no_score() -> None:
    row = report.Row(MODULE, 2, 0, 0, 2, 0, 0, 1.0)
    assert row.score is None
    assert "| n/a |" in report.format_table([row])


def test_the_table_has_a_total_row_for_several_modules() -> None:
    other = "src/trader247/core/fleet.py"
    mutants = _numbered(3, report.KILLED) + [
        _mutant("trader247.core.fleet.x_g__mutmut_1", report.SURVIVED, module=other)]
    table = report.format_table(report.rows(report.apply_equivalents(mutants, [], []),
                                            [MODULE, other]))
    assert table.splitlines()[-1] == "| total | 4 | 3 | 0 | 0 | 1 | 0 | 75.0 % | 4 |"


def test_survivors_are_listed_with_file_line_function_and_diff_and_kills_are_not() -> None:
    mutants = [_mutant(KEY, report.SURVIVED, report.parse_diff(DIFF)),
               _mutant("trader247.core.cluster_limits.x_f__mutmut_2", report.KILLED),
               _mutant("trader247.core.cluster_limits.x_f__mutmut_3", report.NO_TESTS)]
    text = report.format_survivors(report.apply_equivalents(mutants, [], []), [MODULE])
    assert text.splitlines()[:3] == [
        f"### {MODULE} (2 left)", "",
        f"- `{MODULE}:7` `asset_of_pair` x_asset_of_pair__mutmut_13"]
    assert "+            return pair.split(separator, )[0].upper()" in text
    assert "x_f__mutmut_3 (no fast test runs this function)" in text
    assert "mutmut_2" not in text
    compact = report.format_survivors(report.apply_equivalents(mutants, [], []), [MODULE],
                                      compact=True)
    assert compact.splitlines()[2] == (
        f"- `{MODULE}:7` `asset_of_pair`: `return pair.split(separator, 1)[0].upper()` -> "
        "`return pair.split(separator, )[0].upper()`")


def test_in_scope_expands_the_globs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("cap_a.py", "cap_b.py", "cap_c.txt", "other.py"):
        (tmp_path / name).write_text("")
    assert report.in_scope(["cap_*", "cap_a.py"], tmp_path) == ["cap_a.py", "cap_b.py"]


def test_the_committed_equivalents_file_is_valid(repo) -> None:  # type: ignore[no-untyped-def]
    """A bad entry fails `make test` already, not only the next `make mutation`."""
    import tomllib

    scope = report.in_scope(tomllib.loads((repo / "pyproject.toml").read_text())["tool"][
        "mutmut"]["only_mutate"], repo)
    assert "src/trader247/adapters/cap_mixin.py" in scope and len(scope) == 27
    path = repo / "tests" / "mutation" / "equivalent.toml"
    report.load_equivalents(path.read_text(), str(path), scope)
