"""Metrics and chat for the plugins: every call is a no-op unless the exporter was started.

The exporter starts once per process from the strategy's ``ft_bot_start`` (dry-run and live only,
never in backtesting / hyperopt), on ``metrics.host:metrics.port`` of ``policy.yaml``
(default 127.0.0.1:9090). A busy port is one clear error and the bot keeps trading. Iteration
time is measured around ``FreqtradeBot.process`` by the start-up hook.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trader247.adapters.cap_controller import CapController
    from trader247.core.config import PolicyConfig
    from trader247.core.universe import UniverseResult
    from trader247.metrics.exporter import Metrics

logger = logging.getLogger(__name__)
_metrics: Metrics | None = None


def start(config: dict[str, Any], policy: PolicyConfig, tiers: Iterable[str]) -> None:
    global _metrics
    from trader247.metrics import exporter

    runmode = config.get("runmode")
    if not policy.metrics.enabled or not exporter.should_start(str(getattr(runmode, "value", runmode))):
        return
    if _metrics is not None:
        _metrics.config_reloaded()  # freqtrade's /reload_config builds a new strategy
        return
    metrics = exporter.get_metrics(stake_currency=config["stake_currency"], tiers=tiers)
    exporter.start(policy.metrics.host, policy.metrics.port, metrics=metrics)
    _metrics = metrics
    # freqtrade builds the first whitelist before the strategy starts: publish it now.
    from trader247.adapters import universe_status

    latest = universe_status.latest()
    if latest is not None:
        metrics.update_universe(latest)


def active() -> Metrics | None:
    return _metrics


def record_cap(controller: CapController) -> None:
    if _metrics is not None and controller.last_exposure is not None:
        _metrics.update_cap(controller.last_exposure, controller.state, controller.trim_state,
                            controller.last_plan)


def record_universe(result: UniverseResult) -> None:
    if _metrics is not None:
        _metrics.update_universe(result)


def record_trim_latency(seconds: float) -> None:
    if _metrics is not None:
        _metrics.trim_filled(seconds)


def record_exchange_error(endpoint: str) -> None:
    if _metrics is not None:
        _metrics.exchange_error(endpoint)


def record_pnl(realised: float, unrealised: float, open_trades: int) -> None:
    if _metrics is not None:
        _metrics.update_pnl(realised, unrealised, open_trades)


def record_iteration(seconds: float) -> None:
    if _metrics is not None:
        _metrics.observe_iteration(seconds)
