"""Prometheus metrics of the bot: :class:`Metrics` to update, :class:`MetricsServer` to serve
(both owned by the bot's runtime, ``trader247.adapters.observability``)."""

from trader247.metrics.exporter import (
    Metrics,
    MetricsServer,
    exchange_endpoint,
    order_failure_reason,
    should_start,
)
from trader247.metrics.scrape import parse_exposition, scrape

__all__ = [
    "Metrics",
    "MetricsServer",
    "exchange_endpoint",
    "order_failure_reason",
    "parse_exposition",
    "scrape",
    "should_start",
]
