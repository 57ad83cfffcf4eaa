"""Pre-flight checks shared by ``trader247 validate`` and the plugins at freqtrade start-up.

Why: in the original bot, YAML typos surfaced only at run time. Every problem is collected
(never only the first) as a :class:`~trader247.core.config.Problem` naming file, line and key.

Checks beyond each file's own schema:
- our pairlist is configured when ``universe.yaml`` defines tiers (otherwise the tiers do nothing);
- ``risk.trim_timeout_seconds`` is at least the exchange request time-out (ccxt ``timeout``, ms),
  or a trim could be cancelled while its order request is still in flight;
- live mode (``dry_run: false``): exchange key and secret set, API-server password and JWT secret
  neither empty nor our demo values -- unless the exchange is the loopback replay (``make
  demo-live``), a warning when the API server listens beyond 127.0.0.1, and a cap above 25 %
  needs ``risk.acknowledge_high_cap_live: true`` (checked in the YAML layer);
- ``force_entry_enable: true`` (the demo config has it, for ``/forceenter``) with an API server
  on our demo credentials is refused unless the exchange is the loopback replay, in dry-run too:
  anyone who read the README could open positions through the REST API;
- ``fleet.enabled`` with ``fleet.db_url: null``: freqtrade's own ``db_url`` must be PostgreSQL
  (a warning when the files set none: ``--db-url`` may still give one; the bot refuses SQLite
  at start); a fleet member keeps freqtrade's default ``bot_name`` -> warning (two bots of one
  fleet must not share a name: the second is refused while the first reports).

freqtrade removes the exchange credentials from the config it hands to plugins (they become
``None``): the plugins cannot see them, so only the file-level check (``trader247 validate`` and
``trader247 run``) judges them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from trader247.configfiles import check_files_and_policy
from trader247.core.config import PolicyConfig, Problem, is_postgresql_url
from trader247.core.plugin_names import PAIRLIST
from trader247.jsonsyntax import json_syntax_problems

POLICY_FILE = "policy.yaml"
UNIVERSE_FILE = "universe.yaml"
CCXT_DEFAULT_TIMEOUT_MS = 10_000
DEMO_SECRETS = ("demo-only-password", "demo-only-jwt-secret-replace-before-live-7f3c9a2e5b1d4c86",
                "demo-only-ws-token-replace-before-live-4e2a")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def config_dir(config: Mapping[str, Any]) -> Path:
    """Folder of the first ``-c`` file: our YAML files live next to it by default."""
    # freqtrade stores config_files newest-first: the first ``-c`` file is the last entry.
    files = config.get("config_files") or []
    first = next((f for f in reversed(files) if f and f != "-"), None)
    # Kept relative when the user gave a relative path, so messages read `config/policy.yaml:49`.
    return Path(first).parent if first else Path("config")


def init_command(config_dir: str | os.PathLike[str],
                 userdir: str | os.PathLike[str] | None) -> str:
    """The command that writes the default YAML files into ``config_dir`` (absolute paths: it
    works from any folder)."""
    user = Path(userdir if userdir is not None else "user_data").absolute()
    return (f"trader247 init-userdir --userdir {shlex.quote(str(user))} "
            f"--config-dir {shlex.quote(str(Path(config_dir).absolute()))}")


def explain_missing(problems: Sequence[Problem], paths: tuple[str | os.PathLike[str], ...],
                    userdir: str | os.PathLike[str] | None) -> list[Problem]:
    """Problems of a missing ``policy.yaml`` / ``universe.yaml`` (``paths`` as :func:`locate`
    returns them) also name the command that writes the defaults where they were looked for."""
    files = dict(zip((os.fspath(p) for p in paths), (POLICY_FILE, UNIVERSE_FILE), strict=True))
    out = []
    for problem in problems:
        default = files.get(problem.file)
        if default is None or problem.path or os.path.lexists(problem.file):
            out.append(problem)
            continue
        file = Path(problem.file)
        named = "" if file.name == default else f", then copy its {default} to {file.name}"
        out.append(dataclasses.replace(problem, message=(
            f"{problem.message}; create it with `{init_command(file.parent, userdir)}` (writes "
            f"the default {POLICY_FILE} and {UNIVERSE_FILE} there, keeps existing files{named})")))
    return out


def pairlist_params(config: Mapping[str, Any]) -> Mapping[str, Any]:
    for entry in config.get("pairlists") or []:
        if entry.get("method") == PAIRLIST:
            return entry  # type: ignore[no-any-return]
    return {}


def locate(config: Mapping[str, Any],
           overrides: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """``(policy.yaml, universe.yaml)`` for freqtrade ``config``: the pairlist parameters
    ``policy_file`` / ``universe_file`` (or ``overrides``), relative to the config's folder as
    freqtrade does for its own paths."""
    params = {**pairlist_params(config), **(overrides or {})}
    base = config_dir(config)

    def resolve(key: str, default: str) -> Path:
        path = Path(os.path.expanduser(str(params.get(key) or default)))
        return path if path.is_absolute() else base / path

    return resolve("policy_file", POLICY_FILE), resolve("universe_file", UNIVERSE_FILE)


def exchange_is_loopback(exchange: Mapping[str, Any]) -> bool:
    """True when every ccxt instance talks to a server on this machine (the replay)."""
    from urllib.parse import urlsplit

    urls = [((exchange.get(key) or {}).get("urls") or {}).get("api", {})
            for key in ("ccxt_config", "ccxt_async_config")]
    rests = [u.get("rest") if isinstance(u, Mapping) else u for u in urls]
    if not rests[0]:
        return False  # ccxt's own URL: the real exchange
    hosts = [urlsplit(str(r)).hostname for r in rests if r]
    return all(h in LOOPBACK or (h or "").startswith("127.") for h in hosts)


def config_checks(config: Mapping[str, Any], policy: PolicyConfig | None,
                  *, file: str) -> list[Problem]:
    """Checks of freqtrade's config (already schema-valid) against our policy."""
    problems: list[Problem] = []

    def add(path: tuple[str | int, ...], message: str,
            severity: Literal["error", "warning"] = "error") -> None:
        problems.append(Problem(file=file, path=path, message=message, severity=severity))

    methods = [p.get("method") for p in config.get("pairlists") or []]
    if PAIRLIST not in methods:
        add(("pairlists",), f"{PAIRLIST} is not configured: the tiers of universe.yaml are "
            "ignored (add {\"method\": \"TieredLiquidityPairList\"})", "warning")

    exchange = config.get("exchange") or {}
    if policy is not None:
        timeout_ms = max(
            float((exchange.get(key) or {}).get("timeout", CCXT_DEFAULT_TIMEOUT_MS))
            for key in ("ccxt_config", "ccxt_async_config")
        )
        if policy.risk.trim_timeout_seconds * 1000 < timeout_ms:
            add(("exchange", "ccxt_config", "timeout"),
                f"risk.trim_timeout_seconds ({policy.risk.trim_timeout_seconds:g} s) is shorter "
                f"than the exchange request time-out ({timeout_ms / 1000:g} s)")

    runmode = getattr(config.get("runmode"), "value", config.get("runmode"))
    # Backtests and hyperopt run without a fleet (no shared account): no database needed there.
    if policy is not None and policy.fleet.enabled and runmode not in ("backtest", "hyperopt"):
        _fleet_checks(config, policy, add)

    api = config.get("api_server") or {}
    if config.get("force_entry_enable") and api.get("enabled") and not exchange_is_loopback(
            exchange):
        demo_keys = [key for key in ("password", "jwt_secret_key", "ws_token")
                     if str(api.get(key) or "") in DEMO_SECRETS]
        if demo_keys:
            add(("force_entry_enable",), "true with the demo API credentials ("
                + ", ".join(f"api_server.{key}" for key in demo_keys) + ") on an exchange that is "
                "not the loopback replay: anyone who read the README could open positions "
                "through /forceenter; set your own secrets or force_entry_enable: false")

    if config.get("dry_run", True) is False:
        for key in ("key", "secret"):
            value = exchange.get(key, "")
            if value is not None and not str(value).strip():  # None: removed by freqtrade
                add(("exchange", key), "must be set for live trading (dry_run is false)")
        if api.get("enabled"):
            for key in ("password", "jwt_secret_key", "ws_token"):
                value = str(api.get(key) or "")
                demo = value in DEMO_SECRETS and not exchange_is_loopback(exchange)
                if not value.strip() or demo:
                    add(("api_server", key), "empty or a demo value: set your own secret "
                        "for live trading")
            if str(api.get("listen_ip_address", "127.0.0.1")) not in LOOPBACK:
                add(("api_server", "listen_ip_address"),
                    f"listens on {api.get('listen_ip_address')}: the API is reachable beyond "
                    "this machine", "warning")
    return problems


def _fleet_checks(config: Mapping[str, Any], policy: PolicyConfig, add: Any) -> None:
    db_url = str(config.get("db_url") or "")
    fix = "set db_url (or --db-url) or fleet.db_url to postgresql+psycopg://user:pass@host/db"
    if policy.fleet.db_url is None and db_url and not is_postgresql_url(db_url):
        add(("db_url",), f"policy.yaml fleet.enabled is true with fleet.db_url null, so the fleet "
            f"uses this db_url, which must be PostgreSQL (got a {db_url.split(':', 1)[0]!r} "
            f"URL): {fix}")
    elif policy.fleet.db_url is None and not db_url:
        # The files alone (validate, run's pre-flight): --db-url may still name PostgreSQL;
        # the bot itself refuses SQLite at start.
        add(("db_url",), "policy.yaml fleet.enabled is true with fleet.db_url null, so the fleet "
            "uses freqtrade's database, which is SQLite unless --db-url names PostgreSQL (a "
            f"fleet on SQLite refuses to start): {fix}", "warning")
    if str(config.get("bot_name") or "freqtrade") == "freqtrade":
        add(("bot_name",), "fleet.enabled: every bot of a fleet needs its own bot_name (it is "
            "the bot's member name; freqtrade's default 'freqtrade' is likely shared)", "warning")


def run_preflight(config_files: Sequence[str], userdir: str | None = None
                  ) -> tuple[list[Problem], dict[str, Any] | None]:
    """Freqtrade's own loader and schema (so ``FREQTRADE__`` variables, several ``-c`` files and
    ``--userdir`` / the config's ``user_data_dir`` behave as in freqtrade), then our YAML files,
    then the checks above. JSON syntax errors first, as ``file:line:col``
    (``trader247.jsonsyntax``)."""
    from freqtrade.configuration import Configuration
    from freqtrade.configuration.config_validation import (
        validate_config_consistency,
        validate_config_schema,
    )
    from freqtrade.enums import RunMode
    from freqtrade.exceptions import OperationalException
    from jsonschema.exceptions import ValidationError

    syntax = json_syntax_problems(config_files)  # file:line:col, every file (freqtrade: 1)
    if syntax:
        return syntax, None
    label = ", ".join(config_files)
    # freqtrade's loader configures logging and reports every step; the validator's output is
    # the problem list, so its chatter is muted for the duration of the load.
    logging.disable(logging.CRITICAL)
    try:
        # Configuration.from_files plus --userdir: freqtrade's command-line value wins over
        # the config's user_data_dir, which wins over ./user_data.
        args = {"config": list(config_files), "user_data_dir": userdir}
        config = Configuration(args, RunMode.OTHER).get_config()
        validate_config_schema(config)
        validate_config_consistency(config)
    except ValidationError as exc:  # freqtrade re-raises schema errors without their path
        return [Problem(file=label, path=(), message=exc.message)], None
    except OperationalException as exc:
        return [Problem(file=label, path=(), message=str(exc))], None
    except (OSError, ValueError) as exc:
        return [Problem(file=label, path=(), message=f"cannot read: {exc}")], None
    finally:
        logging.disable(logging.NOTSET)
    policy_path, universe_path = locate(config)
    dry_run = bool(config.get("dry_run", True))
    found, policy = check_files_and_policy(policy_path, universe_path, dry_run=dry_run)
    problems = explain_missing(found, (policy_path, universe_path), config.get("user_data_dir"))
    problems += config_checks(config, policy, file=str(Path(config_files[0])))
    return problems, config
