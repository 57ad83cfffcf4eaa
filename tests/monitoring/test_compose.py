"""docker-compose.yml and docker/ checked structurally (no Docker engine in CI)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring._tools import PROMETHEUS_DIR, REPO, promtool

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "docker" / "Dockerfile"
OVERRIDE = REPO / "docker" / "config.compose.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, mode) of every short-syntax volume."""
    out = []
    for spec in service.get("volumes", []):
        parts = spec.split(":")
        out.append((parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"))
    return out


def test_services(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"bot", "replay", "prometheus", "grafana"}


def test_ports_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    published = []
    for name, service in services(compose).items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
            published.append(port.split(":")[1])
        assert "network_mode" not in service, name
    assert len(published) == len(set(published)), f"host port used twice: {published}"


def test_healthchecks_users_and_restart(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        check = service.get("healthcheck")
        assert check and check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert {"interval", "timeout", "retries"} <= set(check), name
        user = str(service.get("user", ""))
        assert user and user not in {"root", "0", "0:0"}, f"{name}: runs as root"
        assert service.get("restart") == "unless-stopped", name
        assert "no-new-privileges:true" in service.get("security_opt", []), name


def test_host_paths_exist(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, service in services(compose).items():
        build = service.get("build")
        if build:
            context = REPO / build["context"]
            assert context.is_dir() and (context / build["dockerfile"]).is_file(), name
        for source, target, _mode in mounts(service):
            assert target.startswith("/"), (name, target)
            if source.startswith((".", "/")):
                assert (REPO / source).resolve().exists(), f"{name}: {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} not declared"


def test_named_volumes_for_database_and_user_data(compose: dict[str, Any]) -> None:
    bot = dict((t, (s, m)) for s, t, m in mounts(services(compose)["bot"]))
    assert bot["/freqtrade/db"] == ("db", "rw")
    assert bot["/freqtrade/user_data"] == ("user_data", "rw")
    replay = dict((t, (s, m)) for s, t, m in mounts(services(compose)["replay"]))
    assert replay["/freqtrade/user_data"] == ("user_data", "ro")
    command = services(compose)["bot"]["command"]
    assert "sqlite:////freqtrade/db/tradesv3.dryrun.sqlite" in command


def test_bot_and_replay_commands(compose: dict[str, Any]) -> None:
    bot = services(compose)["bot"]
    command = bot["command"]
    assert command[0] == "trade"
    configs = [command[i + 1] for i, arg in enumerate(command) if arg == "--config"]
    assert configs == ["/freqtrade/config/config.json", "/freqtrade/docker/config.compose.json"]
    targets = {t: s for s, t, _ in mounts(bot)}
    assert targets["/freqtrade/config"] == "./config"
    assert targets["/freqtrade/docker/config.compose.json"] == "./docker/config.compose.json"
    assert bot["environment"]["TRADER247_METRICS_HOST"] == "0.0.0.0"
    assert bot["depends_on"]["replay"]["condition"] == "service_healthy"

    replay = services(compose)["replay"]
    assert replay["entrypoint"] == ["python", "-m", "trader247.replay"]
    args = replay["command"]
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert args[args.index("--port") + 1] == "8765"
    assert args[args.index("--data-dir") + 1] == "/freqtrade/user_data/data/coinbase"
    assert "127.0.0.1:8765:8765" in replay["ports"]


def test_override_merges_onto_the_freqtrade_config(compose: dict[str, Any]) -> None:
    from freqtrade.configuration.load_config import load_from_files

    config = load_from_files([str(REPO / "config" / "config.json"), str(OVERRIDE)])
    for key in ("ccxt_config", "ccxt_async_config"):
        assert config["exchange"][key]["urls"]["api"]["rest"] == "http://replay:8765"
    assert config["exchange"]["ccxt_config"]["has"] == {"fetchL2OrderBook": True}  # kept
    assert config["api_server"]["listen_ip_address"] == "0.0.0.0"
    assert config["dry_run"] is True
    api_port = config["api_server"]["listen_port"]
    metrics_port = yaml.safe_load((REPO / "config" / "policy.yaml").read_text())["metrics"]["port"]
    ports = services(compose)["bot"]["ports"]
    assert f"127.0.0.1:{api_port}:{api_port}" in ports
    assert any(p.endswith(f":{metrics_port}") for p in ports)
    scrape = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())["scrape_configs"]
    bot_job = next(job for job in scrape if job["job_name"] == "bot")
    assert bot_job["static_configs"][0]["targets"] == [f"bot:{metrics_port}"]


def test_prometheus_and_grafana_services(compose: dict[str, Any]) -> None:
    prom = services(compose)["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prom["image"])
    targets = {t: s for s, t, _ in mounts(prom)}
    assert targets["/etc/prometheus"] == "./monitoring/prometheus"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    graf = services(compose)["grafana"]
    assert re.fullmatch(r"grafana/grafana(-oss)?:\d+\.\d+\.\d+", graf["image"])


def test_promtool_check_config() -> None:
    result = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_dockerfile() -> None:
    text = DOCKERFILE.read_text()
    from trader247 import FREQTRADE_RELEASES

    newest = FREQTRADE_RELEASES[-1]  # the newest supported release
    assert f"FROM freqtradeorg/freqtrade:{newest}\n" in text
    assert f"freqtrade.__version__.startswith('{newest}')" in text
    assert re.search(r"^USER ftuser$", text, re.M)
    assert 'ENTRYPOINT ["freqtrade"]' in text
    ignore = (REPO / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    for source in re.findall(r"^COPY --chown=\S+ (.+) \S+$", text, re.M):
        for path in source.split():
            assert (REPO / path).exists(), f"COPY source {path} missing"
            assert f"!{path}" in ignore or f"!{path}/" in ignore, f"{path} excluded by ignore"


def test_nothing_binds_a_public_interface_outside_docker() -> None:
    # 0.0.0.0 appears only in container-internal settings (compose, the compose override).
    policy = yaml.safe_load((REPO / "config" / "policy.yaml").read_text())
    assert policy["metrics"]["host"] == "127.0.0.1"
    assert Path(REPO / "config" / "config.json").read_text().count("0.0.0.0") == 0
