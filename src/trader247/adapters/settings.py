"""Load our YAML files for a freqtrade plugin: validated, checked against freqtrade's config, and
turned into the core's value objects.

Decisions:
- ``policy.yaml`` and ``universe.yaml`` are found by :func:`trader247.preflight.locate` (next to
  the first ``-c`` file unless the pairlist parameters ``policy_file`` / ``universe_file`` say
  otherwise), the same way ``trader247 validate`` finds them. A missing one is named with its
  absolute path and the ``trader247 init-userdir`` command that writes the default there.
- Read once per bot start and shared: each plugin asks for its :class:`Settings` when freqtrade
  builds it (the pairlist in its constructor, the strategy in ``ft_bot_start``, the strategy's
  ``protections``) and keeps them; the first ask parses the files, the others get the same
  object from the bot's config dict (:data:`SETTINGS_KEY`, as ``observability.RUNTIME_KEY``
  holds its runtime: freqtrade hands one dict to every plugin of a bot), keyed by both files'
  resolved paths, modification times and sizes and the dry-run flag. Not a process-wide cache:
  two bots in one process (tests, a backtest next to a hyperopt) each read their own; a copy of
  the config (freqtrade's API evaluates pairlists on copies, hyperopt pickles it) starts empty;
  ``/reload_config`` (a new config dict) reads the files again, so a changed file takes effect
  there. Not on the runtime itself: backtests get no runtime (they report nothing). A file
  broken while the bot runs cannot stop it mid-iteration.
- Any problem raises :class:`Trader247ConfigError`, an ``OperationalException``: freqtrade stops
  before the first iteration with every problem listed and exit code 2 (a ``ConfigurationError``
  would exit 0 in freqtrade 2026.9 without our start-up hook).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freqtrade.exceptions import OperationalException

from trader247.configfiles import ConfigFileError, load_both
from trader247.core.config import PolicyConfig, UniverseConfig
from trader247.core.exposure import CapPolicy
from trader247.core.universe import UniverseRules
from trader247.preflight import config_checks, explain_missing, locate

logger = logging.getLogger(__name__)


class Trader247ConfigError(OperationalException):  # type: ignore[misc]  # freqtrade is untyped
    pass


@dataclass(frozen=True)
class Settings:
    """Both files as models, where they were read from, and the core objects built from them."""

    policy: PolicyConfig
    universe: UniverseConfig
    policy_path: Path
    universe_path: Path
    cap_policy: CapPolicy = field(init=False)
    universe_rules: UniverseRules = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cap_policy", self.policy.risk.to_core(self.policy.trims,
                                                                   self.universe.clusters))
        object.__setattr__(self, "universe_rules", self.universe.to_core(self.policy.liquidity))


def _config_label(config: Mapping[str, Any]) -> str:
    return ", ".join(reversed(config.get("config_files") or [])) or "<config>"


SETTINGS_KEY = "_trader247_settings"
"""The key of freqtrade's config dict that holds the bot's :class:`SharedSettings`."""


class SharedSettings(dict[tuple[object, ...], "Settings"]):
    """One bot's parsed files by file versions; a copy or an unpickled one starts empty."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedSettings:
        return SharedSettings()

    def __reduce__(self) -> tuple[type[SharedSettings], tuple[()]]:
        return (SharedSettings, ())


def _file_key(path: Path) -> tuple[object, ...]:
    """Which file and which version of it: a missing file is not cached (it raises)."""
    try:
        stat = path.stat()
    except OSError:
        return (path, None)
    return (path.resolve(), stat.st_mtime_ns, stat.st_size)


def load_settings(config: Mapping[str, Any],
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Both files for freqtrade ``config``, parsed once per bot (module doc); ``overrides``:
    pairlist parameters naming other files. Warnings are logged once, errors raise
    :class:`Trader247ConfigError`."""
    policy_path, universe_path = locate(config, overrides)
    if not isinstance(config, dict):  # no dict to share them through
        return _load(config, policy_path, universe_path)
    key = (_file_key(policy_path), _file_key(universe_path), bool(config.get("dry_run", True)))
    shared = config.get(SETTINGS_KEY)
    if not isinstance(shared, SharedSettings):
        shared = config[SETTINGS_KEY] = SharedSettings()
    if key not in shared:
        shared[key] = _load(config, policy_path, universe_path)
    return shared[key]


def _load(config: Mapping[str, Any], policy_path: Path, universe_path: Path) -> Settings:
    """Read, validate and check both files; errors raise :class:`Trader247ConfigError`."""
    try:
        policy, universe = load_both(policy_path, universe_path,
                                     dry_run=bool(config.get("dry_run", True)))
    except ConfigFileError as exc:
        problems = explain_missing(exc.problems, (policy_path, universe_path),
                                   config.get("user_data_dir"))
        raise Trader247ConfigError("247trader configuration is invalid:\n"
                                   + "\n".join(p.format() for p in problems)) from None
    problems = config_checks(config, policy, file=_config_label(config))
    for problem in problems:
        if problem.severity != "error":
            logger.warning(problem.format())
    errors = [p.format() for p in problems if p.severity == "error"]
    if errors:
        raise Trader247ConfigError("247trader configuration is invalid:\n" + "\n".join(errors))
    try:
        return Settings(policy, universe, policy_path, universe_path)
    except ValueError as exc:  # the core refusing what the models let through is our defect
        raise Trader247ConfigError(f"247trader configuration is invalid: {exc}") from None
