"""policy.yaml ``protections:``, ``risk.max_per_cluster_pct`` / ``max_per_asset_pct`` and
universe.yaml ``clusters:``: defaults off, every problem as ``file:line: key: message``; and the
validator's one-line answer to a 247trader-v2 file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trader247.configfiles import ConfigFileError, check_files, load_both
from trader247.core.config import PROTECTION_PARAMETERS

REPO = Path(__file__).resolve().parents[2]
SHIPPED_POLICY = (REPO / "config" / "policy.yaml").read_text()
SHIPPED_UNIVERSE = (REPO / "config" / "universe.yaml").read_text()
V2 = REPO / "tests" / "migrate" / "fixtures" / "v2_real"
CLUSTERS = "\nclusters:\n  definitions:\n    MEME: [DOGE-USD, SHIB]\n    LAYER1: [BTC, ETH]\n"


def files(tmp_path: Path, policy_tail: str = "", universe_tail: str = "") -> tuple[Path, Path]:
    """The shipped files with lines appended (a later top-level key replaces the shipped one)."""
    policy, universe = tmp_path / "policy.yaml", tmp_path / "universe.yaml"
    policy.write_text(SHIPPED_POLICY.replace("protections: []\n", "") + policy_tail)
    universe.write_text(SHIPPED_UNIVERSE.replace("clusters:\n  definitions: {}\n", "")
                        + universe_tail)
    return policy, universe


def errors(tmp_path: Path, policy_tail: str = "", universe_tail: str = CLUSTERS) -> list[str]:
    policy, universe = files(tmp_path, policy_tail, universe_tail)
    return [p.format().replace(str(tmp_path) + "/", "") for p in check_files(policy, universe)
            if p.severity == "error"]


def test_shipped_files_have_every_new_limit_off() -> None:
    policy, universe = load_both(REPO / "config" / "policy.yaml", REPO / "config" / "universe.yaml")
    assert policy.protections == ()
    assert policy.risk.max_per_cluster_pct == {}
    assert policy.risk.max_per_asset_pct is None
    assert universe.clusters.definitions == {}


def test_protections_load_in_freqtrades_format(tmp_path: Path) -> None:
    policy_path, universe_path = files(tmp_path, (
        "protections:\n"
        "  - {method: StoplossGuard, trade_limit: 2, lookback_period: 60, stop_duration: 30,"
        " only_per_pair: true}\n"
        '  - {method: MaxDrawdown, calculation_mode: equity, max_allowed_drawdown: 0.03,'
        ' lookback_period_candles: 24, unlock_at: "00:00"}\n'
        "  - {method: CooldownPeriod, stop_duration_candles: 2}\n"
        "  - {method: LowProfitPairs, required_profit: -0.02, trade_limit: 1}\n"))
    policy, _ = load_both(policy_path, universe_path)
    assert [p.to_freqtrade() for p in policy.protections] == [
        {"method": "StoplossGuard", "trade_limit": 2, "lookback_period": 60,
         "stop_duration": 30, "only_per_pair": True},
        {"method": "MaxDrawdown", "calculation_mode": "equity", "max_allowed_drawdown": 0.03,
         "lookback_period_candles": 24, "unlock_at": "00:00"},
        {"method": "CooldownPeriod", "stop_duration_candles": 2},
        {"method": "LowProfitPairs", "required_profit": -0.02, "trade_limit": 1},
    ]


LINE = SHIPPED_POLICY.replace("protections: []\n", "").count("\n") + 2  # the first entry


@pytest.mark.parametrize("entry, message", [
    ("{method: StoplossGard}", "protections[0].method: unknown protection 'StoplossGard' "
     "(did you mean StoplossGuard?) (expected one of StoplossGuard, MaxDrawdown, "
     "CooldownPeriod, LowProfitPairs)"),
    ("{method: ExposureCap}", "protections[0].method: ExposureCap is always added by "
     "247trader (first, from risk.*); remove it here"),
    ("{method: CooldownPeriod, trade_limit: 2}", "protections[0].trade_limit: not a parameter "
     "of CooldownPeriod (it takes lookback_period, lookback_period_candles, stop_duration, "
     "stop_duration_candles, unlock_at)"),
    ("{method: StoplossGuard, max_allowed_drawdown: 0.1}",
     "protections[0].max_allowed_drawdown: not a parameter of StoplossGuard"),
    ("{method: StoplossGuard, stop_duraton: 5}", "protections[0].stop_duraton: unknown key "
     "(did you mean stop_duration?)"),
    ("{method: MaxDrawdown, stop_duration: 5, stop_duration_candles: 2}",
     "protections[0].stop_duration_candles: give stop_duration or stop_duration_candles, not "
     "both (freqtrade refuses the pair)"),
    ("{method: MaxDrawdown, unlock_at: '00:00', stop_duration: 5}",
     "protections[0].stop_duration: give unlock_at or stop_duration, not both"),
    ("{method: MaxDrawdown, unlock_at: 12:30}", 'protections[0].unlock_at: must be a quoted '
     'time: unlock_at: "12:30" (YAML read 12:30 as the number 750)'),
    ("{method: MaxDrawdown, unlock_at: '24:00'}",
     "protections[0].unlock_at: must be a time HH:MM (UTC) (got '24:00')"),
    ("{method: MaxDrawdown, max_allowed_drawdown: 1.01}",
     "protections[0].max_allowed_drawdown: must be >= 0 and <= 1 (got 1.01)"),
    ("{method: StoplossGuard, trade_limit: 0}",
     "protections[0].trade_limit: must be >= 1 (got 0)"),
    ("{method: CooldownPeriod, stop_duration: 0}",
     "protections[0].stop_duration: must be >= 1 (got 0)"),
    ("{method: LowProfitPairs, required_profit: -1}",
     "protections[0].required_profit: must be > -1 (got -1)"),
    ("{trade_limit: 2}", "protections[0].method: missing required key"),
])
def test_bad_protection_is_named_by_file_line_and_key(
    tmp_path: Path, entry: str, message: str
) -> None:
    found = errors(tmp_path, f"protections:\n  - {entry}\n")
    assert len(found) == 1, found
    assert found[0].startswith(f"policy.yaml:{LINE}: {message}"), found


def test_every_method_lists_the_window_parameters() -> None:
    for params in PROTECTION_PARAMETERS.values():
        assert {"stop_duration", "lookback_period", "unlock_at"} <= params


# ------------------------------------------------------------------------------ cluster caps

@pytest.mark.parametrize("risk, problem", [
    ("max_per_cluster_pct: {MEME: 4.0}", None),
    ("max_per_cluster_pct: {MEME: 100}", None),
    ("max_per_asset_pct: 100", None),
    ("max_per_asset_pct: 0.01", None),
    ("max_per_cluster_pct: {MEME: 0}", "risk.max_per_cluster_pct.MEME: must be > 0 and <= 100 "
     "(got 0)"),
    ("max_per_cluster_pct: {MEME: 100.01}", "risk.max_per_cluster_pct.MEME: must be > 0 and <= 100"),
    ("max_per_asset_pct: 0", "risk.max_per_asset_pct: must be > 0 and <= 100 (got 0)"),
    ("max_per_asset_pct: '5%'", "risk.max_per_asset_pct: must be a number (got '5%')"),
    ("max_per_cluster_pct: {MEMES: 4}", "risk.max_per_cluster_pct.MEMES: no cluster MEMES in "
     "universe.yaml clusters.definitions (did you mean MEME?); defined: MEME, LAYER1"),
])
def test_cluster_caps_at_their_bounds(tmp_path: Path, risk: str, problem: str | None) -> None:
    key, _, value = risk.partition(": ")
    policy, universe = files(tmp_path, universe_tail=CLUSTERS)
    shipped_line = f"  {key}: " + ("{}" if key == "max_per_cluster_pct" else "null")
    assert shipped_line in policy.read_text()
    policy.write_text(policy.read_text().replace(shipped_line, f"  {key}: {value}"))
    found = [p.format().replace(str(tmp_path) + "/", "") for p in check_files(policy, universe)
             if p.severity == "error"]
    if problem is None:
        assert found == []
    else:
        line = policy.read_text().splitlines().index(f"  {key}: {value}") + 1
        assert len(found) == 1 and found[0].startswith(f"policy.yaml:{line}: {problem}"), found


def test_theme_cap_without_clusters_names_the_missing_definitions(tmp_path: Path) -> None:
    text = SHIPPED_POLICY.replace("max_per_cluster_pct: {}", "max_per_cluster_pct: {L2: 10}")
    policy, universe = files(tmp_path)
    policy.write_text(text)
    found = [p.format() for p in check_files(policy, universe) if p.severity == "error"]
    line = text.splitlines().index("  max_per_cluster_pct: {L2: 10}") + 1
    assert found == [f"{policy}:{line}: risk.max_per_cluster_pct.L2: no cluster L2 in "
                     f"{universe} clusters.definitions; none is defined"]


def test_cap_not_below_the_total_is_a_warning(tmp_path: Path) -> None:
    text = SHIPPED_POLICY.replace("max_per_asset_pct: null", "max_per_asset_pct: 25.0")
    policy, universe = files(tmp_path)
    policy.write_text(text)
    warnings = [p.message for p in check_files(policy, universe) if p.severity == "warning"]
    assert "25% is not below risk.max_total_at_risk_pct (25%): this limit never binds" in warnings


def test_asset_in_two_clusters_is_an_error(tmp_path: Path) -> None:
    tail = "\nclusters:\n  definitions:\n    MEME: [DOGE-USD]\n    DOGS: [SHIB, DOGE]\n"
    found = errors(tmp_path, universe_tail=tail)
    # The DOGS line is the file's last line.
    line = (SHIPPED_UNIVERSE.replace("clusters:\n  definitions: {}\n", "") + tail).count("\n")
    assert found == [f"universe.yaml:{line}: clusters.definitions.DOGS[1]: DOGE is already in "
                     "cluster MEME (as DOGE-USD); an asset belongs to one cluster only "
                     "(asset DOGE)"]


# ------------------------------------------------------------------------------ v2 files


def test_v2_policy_is_named_in_one_line_not_85(tmp_path: Path) -> None:
    problems = check_files(V2 / "policy.yaml", V2 / "universe.yaml")
    assert [p.severity for p in problems] == ["error", "error"]
    first = problems[0].format()
    assert first.startswith(f"{V2 / 'policy.yaml'}:4: this is a 247trader-v2 file (")
    assert "`trader247 migrate --from <v2 config dir> --to <new dir>`" in first
    assert problems[1].file == str(V2 / "universe.yaml")


@pytest.mark.parametrize("text, v2", [
    ("profile: conservative\nrisk: {max_total_at_risk_pct: 25}\n", True),
    ("profiles: {}\n", True),
    ("risk: {max_open_positions: 5, stop_loss_pct: 8}\n", True),
    ("execution: {maker_fee_bps: 40}\nai: {enabled: false}\n", True),
    ("execution: {maker_fee_bps: 40}\n", False),  # one stray section: the usual unknown key
    ("risk: {max_open_positions: 5}\n", False),
])
def test_v2_markers(tmp_path: Path, text: str, v2: bool) -> None:
    policy, universe = files(tmp_path)
    policy.write_text(text)
    with pytest.raises(ConfigFileError) as info:
        load_both(policy, universe)
    said = "this is a 247trader-v2 file" in info.value.problems[0].message
    assert said is v2


def test_validate_first_line_points_to_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trader247.cli.validate import report  # `trader247 validate`, in this process

    shutil.copy(REPO / "config" / "config.json", tmp_path / "config.json")
    for name in ("policy.yaml", "universe.yaml"):
        shutil.copy(V2 / name, tmp_path / name)
    assert report([str(tmp_path / "config.json")], "text") == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"❌ {tmp_path / 'policy.yaml'}:4: this is a 247trader-v2 file")
    assert "trader247 migrate" in lines[0]
    assert len(lines) <= 4, lines  # policy, universe, maybe a config check, the summary
