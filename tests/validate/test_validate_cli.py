"""``trader247 validate``: every problem, file:line:key, exit 1; the OK line and exit 0 (fix 5)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from trader247.cli import main as cli_main
from trader247.configfiles import main as configfiles_main

REPO = Path(__file__).resolve().parents[2]
TRADER247 = Path(sys.executable).with_name("trader247")  # the console script pip installed


def validate(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TRADER247), "validate", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    for name in ("config.json", "policy.yaml", "universe.yaml"):
        shutil.copy(REPO / "config" / name, tmp_path / name)
    return tmp_path


def test_bundled_configuration_is_valid() -> None:
    result = validate()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("✅ All configuration files are valid!")


def test_every_problem_is_reported_with_file_line_and_key(config_dir: Path) -> None:
    policy = config_dir / "policy.yaml"
    policy.write_text(policy.read_text().replace("max_total_at_risk_pct: 25.0",
                                                 "max_total_at_risk_pct: 250"))
    (config_dir / "universe.yaml").write_text(
        "tiers:\n  t1:\n    symbols: [BTC-USD]\n    symbols: [ETH-USD]\n"
        "    constraints: {min_24h_volume_usd: 5}\n")
    result = validate("-c", str(config_dir / "config.json"))
    assert result.returncode == 1
    assert f"{policy}:49: risk.max_total_at_risk_pct: must be > 0 and <= 100 (got 250)" \
        in result.stdout
    assert f"{config_dir / 'universe.yaml'}:4: tiers.t1.symbols: duplicate key" in result.stdout
    assert "✅" not in result.stdout


def test_json_format_for_machines(config_dir: Path) -> None:
    (config_dir / "policy.yaml").write_text("risk:\n  trim_interval_cycles: 0\n")
    result = validate("--format", "json", "-c", str(config_dir / "config.json"))
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["valid"] is False
    assert [(p["line"], p["key"]) for p in report["problems"] if p["severity"] == "error"] == \
        [(2, "risk.trim_interval_cycles")]


def test_freqtrade_schema_errors_count_too(config_dir: Path) -> None:
    bad = config_dir / "bad.json"
    bad.write_text('{"pairlists": [{"method": "NoSuchPairList"}]}')
    result = validate("-c", str(config_dir / "config.json"), "-c", str(bad))
    assert result.returncode == 1
    assert "'NoSuchPairList' is not one of" in result.stdout


def test_freqtrade_env_overrides_apply(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREQTRADE__DRY_RUN", "false")
    result = validate("-c", str(config_dir / "config.json"))
    # Live mode through the environment: empty keys are refused; the demo secrets pass only
    # because the bundled config trades on the loopback replay (make demo-live) ...
    assert result.returncode == 1
    assert "exchange.key: must be set for live trading" in result.stdout
    assert "api_server.password" not in result.stdout
    # ... and are refused as soon as the exchange is the real one (freqtrade keeps the case of
    # keys below ccxt_config, as ccxt needs it)
    for layer in ("CCXT_CONFIG", "CCXT_ASYNC_CONFIG"):
        monkeypatch.setenv(f"FREQTRADE__EXCHANGE__{layer}__urls__api__rest",
                           "https://api.coinbase.com")
    result = validate("-c", str(config_dir / "config.json"))
    assert "api_server.password: empty or a demo value" in result.stdout


@pytest.mark.parametrize(("rest", "force", "ok"), [
    (None, True, True),                          # the demo: loopback replay, /forceenter on
    ("https://api.coinbase.com", True, False),   # the same files on the real exchange
    ("https://api.coinbase.com", False, True),   # ... without force entries (dry-run)
])
def test_force_entries_with_the_demo_credentials_only_on_the_loopback_replay(
    config_dir: Path, rest: str | None, force: bool, ok: bool
) -> None:
    config = json.loads((config_dir / "config.json").read_text())
    assert config["force_entry_enable"] is True and config["dry_run"] is True
    layer: dict[str, object] = {"force_entry_enable": force}
    if rest is not None:
        layer["exchange"] = {key: {"urls": {"api": {"rest": rest}}}
                             for key in ("ccxt_config", "ccxt_async_config")}
    (config_dir / "real.json").write_text(json.dumps(layer))
    result = validate("-c", str(config_dir / "config.json"), "-c", str(config_dir / "real.json"))
    assert (result.returncode == 0) is ok, result.stdout + result.stderr
    assert ("force_entry_enable: true with the demo API credentials (api_server.password, "
            "api_server.jwt_secret_key, api_server.ws_token)" in result.stdout) is not ok


@pytest.mark.parametrize(
    ("timeout_ms", "ok"), [(75_000, True), (75_001, False)])
def test_trim_timeout_must_cover_the_exchange_request_timeout(
    config_dir: Path, timeout_ms: int, ok: bool
) -> None:
    override = config_dir / "timeout.json"
    override.write_text(json.dumps({"exchange": {"ccxt_config": {"timeout": timeout_ms}}}))
    result = validate("-c", str(config_dir / "config.json"), "-c", str(override))
    assert (result.returncode == 0) is ok, result.stdout


@pytest.mark.parametrize(("flags", "code", "line"), [
    (["--live"], 1, "❌ {policy}:2: risk.max_total_at_risk_pct: a live config with a cap above 25"),
    (["--dry-run"], 0, "✅ All configuration files are valid!"),
    ([], 0, "⚠️  {policy}:2: risk.max_total_at_risk_pct: warning: a live config"),
])
def test_yaml_files_alone(config_dir: Path, capsys: pytest.CaptureFixture[str],
                          flags: list[str], code: int, line: str) -> None:
    """``--yaml``: our two files without a freqtrade config; live or not decides the high cap."""
    policy = config_dir / "policy.yaml"
    policy.write_text("risk:\n  max_total_at_risk_pct: 80.0\n")
    assert cli_main(["validate", "--yaml", str(policy), str(config_dir / "universe.yaml"),
                     *flags]) == code
    assert line.format(policy=policy) in capsys.readouterr().out


def test_yaml_files_alone_as_json(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (config_dir / "universe.yaml").write_text("tiers: {}\n")
    code = cli_main(["validate", "--format", "json", "--yaml", str(config_dir / "policy.yaml"),
                     str(config_dir / "universe.yaml")])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["valid"] is False
    assert [(p["line"], p["key"]) for p in report["problems"]] == [(1, "tiers")]


@pytest.mark.parametrize("args", [
    ["-c", "config/config.json", "--yaml", "a.yaml", "b.yaml"],  # one or the other
    ["--live"],  # the freqtrade config says whether it is live
])
def test_contradictory_arguments_are_refused(args: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_main(["validate", *args])
    assert info.value.code == 2 and "--yaml" in capsys.readouterr().err


def test_there_is_one_validation_entry_point() -> None:
    assert importlib.util.find_spec("trader247.validate") is None
    with pytest.raises(SystemExit):
        configfiles_main(["--check", "config/policy.yaml", "config/universe.yaml"])
