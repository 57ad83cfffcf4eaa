"""``risk.max_per_theme_pct`` is now ``risk.max_per_cluster_pct``: the old key gives the same
limits and exactly one warning naming the file and both keys; the new key none; both is an error
naming both; problems under the old key are shown where the file has them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from trader247.configfiles import ConfigFileError, check_files, load_both

REPO = Path(__file__).resolve().parents[2]
SHIPPED_POLICY = (REPO / "config" / "policy.yaml").read_text()
SHIPPED_UNIVERSE = (REPO / "config" / "universe.yaml").read_text()
SHIPPED_LINE = "  max_per_cluster_pct: {}\n"
CLUSTERS = "clusters:\n  definitions:\n    MEME: [DOGE-USD, SHIB]\n    LAYER1: [BTC, ETH]\n"
WARNING = ("risk.max_per_theme_pct: warning: deprecated, use risk.max_per_cluster_pct "
           "(same meaning; trader247 migrate writes the new key)")


def files(tmp_path: Path, risk_lines: str) -> tuple[Path, Path, int]:
    """The shipped files with the cluster cap line replaced by ``risk_lines``, the clusters
    defined; and the line number of the first replaced line."""
    assert SHIPPED_LINE in SHIPPED_POLICY
    policy, universe = tmp_path / "policy.yaml", tmp_path / "universe.yaml"
    policy.write_text(SHIPPED_POLICY.replace(SHIPPED_LINE, risk_lines))
    universe.write_text(SHIPPED_UNIVERSE.replace("clusters:\n  definitions: {}\n", CLUSTERS))
    line = SHIPPED_POLICY[: SHIPPED_POLICY.index(SHIPPED_LINE)].count("\n") + 1
    return policy, universe, line


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_old_key_gives_the_same_limits_and_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "new").mkdir()
    new_policy, new_universe, _ = files(tmp_path / "new", "  max_per_cluster_pct: {MEME: 4.0}\n")
    old_policy, old_universe, line = files(tmp_path, "  max_per_theme_pct: {MEME: 4.0}\n")
    with caplog.at_level(logging.WARNING):
        new, universe = load_both(new_policy, new_universe)
        assert warnings_logged(caplog) == []  # the new key: no warning
        old, _ = load_both(old_policy, old_universe)
    assert old.risk == new.risk and old.risk.max_per_cluster_pct == {"MEME": 4.0}
    assert (old.risk.to_core(old.trims, universe.clusters).cluster_limits
            == new.risk.to_core(new.trims, universe.clusters).cluster_limits)
    assert warnings_logged(caplog) == [f"{old_policy}:{line}: {WARNING}"]


def test_the_validator_shows_the_warning_once(tmp_path: Path) -> None:
    policy, universe, line = files(tmp_path, "  max_per_theme_pct: {MEME: 4.0}\n")
    found = [p.format() for p in check_files(policy, universe)]
    assert found == [f"{policy}:{line}: {WARNING}"]


def test_both_keys_are_an_error_naming_both(tmp_path: Path) -> None:
    policy, universe, line = files(
        tmp_path, "  max_per_theme_pct: {MEME: 4.0}\n  max_per_cluster_pct: {MEME: 4.0}\n")
    with pytest.raises(ConfigFileError) as caught:
        load_both(policy, universe)
    risk_line = SHIPPED_POLICY.splitlines().index("risk:") + 1
    assert [p.format() for p in caught.value.problems] == [
        f"{policy}:{risk_line}: risk: both max_per_cluster_pct and max_per_theme_pct are given: "
        "max_per_theme_pct is the deprecated name of max_per_cluster_pct; "
        "keep max_per_cluster_pct only"]


@pytest.mark.parametrize("value, message", [
    ("{MEME: 100.01}", "must be > 0 and <= 100 (got 100.01)"),
    ("{MEMES: 4}", "no cluster MEMES in"),
])
def test_a_problem_under_the_old_key_is_shown_at_the_old_key(
    tmp_path: Path, value: str, message: str
) -> None:
    policy, universe, line = files(tmp_path, f"  max_per_theme_pct: {value}\n")
    errors = [p.format() for p in check_files(policy, universe) if p.severity == "error"]
    key = value[1:].split(":")[0]
    assert len(errors) == 1
    assert errors[0].startswith(f"{policy}:{line}: risk.max_per_theme_pct.{key}: {message}")


def test_the_schema_lists_the_old_key_as_deprecated() -> None:
    schema = json.loads((REPO / "config" / "schema" / "policy.schema.json").read_text())
    risk = schema["$defs"]["RiskConfig"]["properties"]
    assert risk["max_per_theme_pct"]["deprecated"] is True
    assert (risk["max_per_theme_pct"]["patternProperties"]
            == risk["max_per_cluster_pct"]["patternProperties"])
