"""docker-compose.yml and docker/ checked structurally (no Docker engine in CI)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring._tools import ALERTS, PROMETHEUS_DIR, REPO, promtool

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


DEFAULT_SERVICES = {"bot", "replay", "prometheus", "grafana"}
FLEET_BOTS = ("bot-a", "bot-b", "bot-c")
FLEET_SERVICES = {"postgres", "replay-fleet", *FLEET_BOTS, "prometheus-fleet", "grafana-fleet"}


def enabled(compose: dict[str, Any], *profiles: str) -> dict[str, dict[str, Any]]:
    """The services `docker compose [--profile P ...] up` starts: those without a profile, and
    those with one of ``profiles`` (Compose's rule)."""
    return {name: service for name, service in services(compose).items()
            if not service.get("profiles") or set(service["profiles"]) & set(profiles)}


def test_services(compose: dict[str, Any]) -> None:
    assert set(enabled(compose)) == DEFAULT_SERVICES
    assert set(enabled(compose, "fleet")) == DEFAULT_SERVICES | FLEET_SERVICES
    for name in FLEET_SERVICES:
        assert services(compose)[name]["profiles"] == ["fleet"], name


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


# --------------------------------------------------------------------------- profile "fleet"

FLEET_DIR = REPO / "docker" / "fleet"
FLEET_PROMETHEUS = PROMETHEUS_DIR / "prometheus-fleet.yml"


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """The repository file a bind mount of ``service`` shows at ``container_path``."""
    for source, target, _mode in mounts(service):
        if source.startswith(".") and (container_path == target
                                       or container_path.startswith(target + "/")):
            return (REPO / source / container_path[len(target):].lstrip("/")).resolve()
    raise AssertionError(f"{container_path} is not bind-mounted from the repository")


def config_args(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return [command[i + 1] for i, arg in enumerate(command) if arg == "--config"]


def networks(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nets = service.get("networks") or {"default": {}}
    if isinstance(nets, list):
        return {net: {} for net in nets}
    return {net: spec or {} for net, spec in nets.items()}


def resolve(compose: dict[str, Any], host: str, network: str) -> list[str]:
    """Services a container on ``network`` reaches under ``host`` (name or network alias)."""
    return [name for name, service in services(compose).items()
            if network in networks(service)
            and (host == name or host in networks(service)[network].get("aliases", []))]


def fleet_layout(service: dict[str, Any], into: Path) -> list[str]:
    """The fleet bot's --config files as the container sees them, on the host: every file mounted
    into the first config's folder is copied into ``into`` (policy.yaml and universe.yaml are read
    next to the first --config), the other configs are the repository files."""
    first, *rest = config_args(service)
    folder = first.rsplit("/", 1)[0]
    for _source, target, _mode in mounts(service):
        if target.rsplit("/", 1)[0] == folder:
            shutil.copy(host_path(service, target), into / target.rsplit("/", 1)[1])
    return [str(into / first.rsplit("/", 1)[1]), *(str(host_path(service, c)) for c in rest)]


def test_default_stack_is_untouched_by_the_fleet(compose: dict[str, Any]) -> None:
    for name, service in enabled(compose).items():
        assert "profiles" not in service and "networks" not in service, name
        for source, _target, _mode in mounts(service):
            assert not source.startswith("fleet") and "fleet" not in source, (name, source)
    for name in FLEET_SERVICES:
        assert set(networks(services(compose)[name])) == {"fleet"}, name


def test_fleet_host_names_resolve_to_fleet_services(compose: dict[str, Any]) -> None:
    # The reused files name `replay` and `prometheus`: on the fleet network those are the
    # fleet's own services (aliases), on the default network the single-bot stack's.
    from urllib.parse import urlsplit

    override = json.loads(OVERRIDE.read_text())
    replay_host = urlsplit(override["exchange"]["ccxt_config"]["urls"]["api"]["rest"]).hostname
    datasources = yaml.safe_load((REPO / "monitoring" / "grafana" / "provisioning" / "datasources"
                                  / "prometheus.yml").read_text())["datasources"]
    prom_host = urlsplit(datasources[0]["url"]).hostname
    assert resolve(compose, str(replay_host), "fleet") == ["replay-fleet"]
    assert resolve(compose, str(replay_host), "default") == ["replay"]
    assert resolve(compose, str(prom_host), "fleet") == ["prometheus-fleet"]
    assert resolve(compose, str(prom_host), "default") == ["prometheus"]
    policy = yaml.safe_load((FLEET_DIR / "policy.yaml").read_text())
    db_host = urlsplit(policy["fleet"]["db_url"]).hostname
    assert resolve(compose, str(db_host), "fleet") == ["postgres"]
    assert resolve(compose, str(db_host), "default") == []


def test_postgres_service(compose: dict[str, Any]) -> None:
    pg = services(compose)["postgres"]
    assert re.fullmatch(r"postgres:\d+\.\d+(-[a-z]+)?", pg["image"]), "official image, pinned"
    assert "ports" not in pg, "the fleet database has no host port"
    assert pg["user"] == "postgres"
    test = pg["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"] and test[test.index("-h") + 1] == "127.0.0.1"
    env = pg["environment"]
    assert test[test.index("-U") + 1] == env["POSTGRES_USER"]
    assert test[test.index("-d") + 1] == env["POSTGRES_DB"]
    targets = {t: (s, m) for s, t, m in mounts(pg)}
    assert targets["/var/lib/postgresql/data"] == ("fleet_pgdata", "rw")
    init = [t for t in targets if t.startswith("/docker-entrypoint-initdb.d/")]
    assert len(init) == 1 and init[0].endswith(".sql") and targets[init[0]][1] == "ro"


def test_fleet_bots_share_fleet_and_database_with_distinct_names(compose: dict[str, Any]) -> None:
    from urllib.parse import urlsplit

    from freqtrade.configuration.load_config import load_from_files

    from trader247.configfiles import load_policy
    from trader247.core.config import is_postgresql_url

    pg_env = services(compose)["postgres"]["environment"]
    created = re.findall(r"CREATE DATABASE (\w+) OWNER (\w+);",
                         host_path(services(compose)["postgres"], next(
                             t for _s, t, _m in mounts(services(compose)["postgres"])
                             if t.startswith("/docker-entrypoint-initdb.d/"))).read_text())
    seen: dict[str, set[str]] = {"bot_name": set(), "db_url": set(), "fleet": set()}
    for name in FLEET_BOTS:
        bot = services(compose)[name]
        assert bot["command"][0] == "trade" and "--db-url" not in bot["command"], name
        configs = config_args(bot)
        assert configs[1] == "/freqtrade/docker/config.compose.json", name
        config = load_from_files([str(host_path(bot, c)) for c in configs])
        assert config["dry_run"] is True, f"{name}: the compose fleet is dry-run (header)"
        folder = configs[0].rsplit("/", 1)[0]
        policy = load_policy(host_path(bot, f"{folder}/policy.yaml"))
        assert host_path(bot, f"{folder}/universe.yaml") == REPO / "config" / "universe.yaml"
        assert policy.fleet.enabled, name
        fleet_url = str(policy.fleet.db_url)
        seen["bot_name"].add(config["bot_name"])
        seen["db_url"].add(config["db_url"])
        seen["fleet"].add(f"{policy.fleet.name} {fleet_url}")
        for url in (fleet_url, config["db_url"]):
            parts = urlsplit(url)
            assert is_postgresql_url(url) and url.startswith("postgresql+psycopg://"), url
            assert (parts.username, parts.password) == (pg_env["POSTGRES_USER"],
                                                        pg_env["POSTGRES_PASSWORD"]), url
            assert parts.path.lstrip("/") in {pg_env["POSTGRES_DB"]} | {d for d, _ in created}
        assert urlsplit(fleet_url).path == f"/{pg_env['POSTGRES_DB']}"
        assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert bot["depends_on"]["replay-fleet"]["condition"] == "service_healthy"
        assert bot["environment"]["TRADER247_METRICS_HOST"] == "0.0.0.0"
        assert [port.split(":", 1)[1].split(":")[1] for port in bot["ports"]] == ["8080", "9090"]
    assert len(seen["bot_name"]) == 3 and "freqtrade" not in seen["bot_name"]
    assert len(seen["db_url"]) == 3, "each bot keeps freqtrade's trades in its own database"
    assert len(seen["fleet"]) == 1, f"one fleet name and database for all bots: {seen['fleet']}"
    assert {owner for _d, owner in created} == {pg_env["POSTGRES_USER"]}


@pytest.mark.parametrize("name", FLEET_BOTS)
def test_fleet_bot_passes_validate(compose: dict[str, Any], name: str, tmp_path: Path) -> None:
    from trader247.preflight import run_preflight

    configs = fleet_layout(services(compose)[name], tmp_path)
    problems, config = run_preflight(configs)
    assert [p.format() for p in problems] == []  # no error and no warning either
    assert config is not None and config["bot_name"] == f"247trader-fleet-{name[-1]}"
    # freqtrade keeps the override's database (no --db-url in the command, dry-run default not
    # applied): the bot's trades go to its own PostgreSQL database.
    assert config["db_url"].endswith(f"@postgres:5432/bot_{name[-1]}")


def test_fleet_policy_is_the_shipped_policy_plus_fleet() -> None:
    # One definition of every setting: the override sets fleet: only, so the fleet bots trade
    # the shipped policy (the single bot's) under one shared cap.
    from trader247.configfiles import load_policy

    shipped = load_policy(REPO / "config" / "policy.yaml", dry_run=True)
    fleet = load_policy(FLEET_DIR / "policy.yaml", dry_run=True)
    assert not shipped.fleet.enabled and fleet.fleet.enabled
    assert fleet == shipped.model_copy(update={"fleet": fleet.fleet})
    assert set(yaml.safe_load((FLEET_DIR / "policy.yaml").read_text())) == {"fleet"}


def test_fleet_prometheus_scrapes_every_bot_with_the_alert_rules(compose: dict[str, Any]) -> None:
    prom = services(compose)["prometheus-fleet"]
    config_file = next(a.split("=", 1)[1] for a in prom["command"]
                       if a.startswith("--config.file="))
    assert host_path(prom, config_file) == FLEET_PROMETHEUS
    scrape = yaml.safe_load(FLEET_PROMETHEUS.read_text())
    bot_job = next(job for job in scrape["scrape_configs"] if job["job_name"] == "bot")
    metrics_port = yaml.safe_load((REPO / "config" / "policy.yaml").read_text())["metrics"]["port"]
    targets = [t for group in bot_job["static_configs"] for t in group["targets"]]
    assert targets == [f"{b}:{metrics_port}" for b in FLEET_BOTS]
    for group in bot_job["static_configs"]:
        assert "bot" not in group.get("labels", {}), "would clash with fleet_member{bot}"
    assert scrape["rule_files"] == ["alerts.yml"]
    rules = yaml.safe_load(ALERTS.read_text())["groups"]
    names = {rule["alert"] for group in rules for rule in group["rules"]}
    assert {"Trader247FleetOverCap", "Trader247FleetLeaderLost",
            "Trader247FleetDatabaseDown"} <= names
    assert set(prom["depends_on"]) == set(FLEET_BOTS)
    assert services(compose)["grafana-fleet"]["depends_on"]["prometheus-fleet"]["condition"] \
        == "service_healthy"


def test_promtool_check_fleet_config() -> None:
    result = promtool("check", "config", str(FLEET_PROMETHEUS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_dockerfile_installs_the_postgres_extra() -> None:
    # --no-deps skips the extras: the image must add the `postgres` extra's requirements itself.
    import tomllib

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["postgres"]
    text = DOCKERFILE.read_text()
    assert extra
    for requirement in extra:
        assert f'"{requirement}"' in text, f"{requirement} missing from docker/Dockerfile"
    check = re.search(r'python -c "import ([^;]+);', text)
    assert check and "psycopg" in [m.strip() for m in check.group(1).split(",")]
